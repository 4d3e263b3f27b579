"""Outcome goals: metric definitions and the SQL metric compiler, the KPI library, OKRs."""
