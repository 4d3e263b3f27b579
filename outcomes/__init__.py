"""Outcome goals: the KPI library (``kpis``) and objectives and key results (``okrs``).

The two sub-packages never import each other; both read metrics through ``metrics.public``.
"""
