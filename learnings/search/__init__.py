"""Full-text and faceted search over learnings (PostgreSQL FTS, SQLite FTS5)."""
