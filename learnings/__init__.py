"""The learnings library: tagged, searchable learnings from experiments and research."""
