"""Writes of the outcomes app: metric definitions (and later OKRs)."""
