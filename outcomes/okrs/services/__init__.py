"""Writes of OKRs, one module per entity: every write validated first, atomic, audited."""
