"""Event sources: a workspace's own warehouse tables (DuckDB, Parquet/CSV, chdb, ClickHouse,
Spark), read in place. ``services`` writes them (every name and path checked, the secret
encrypted), ``selectors`` reads them, ``connect`` opens a read-only engine and the column
mappings, ``probes`` runs the dry run and counts an experiment's exposures."""
