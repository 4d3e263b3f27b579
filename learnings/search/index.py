"""The full-text index of learnings, kept by the database itself on both engines.

PostgreSQL: a stored generated ``tsvector`` column (english configuration: stemming and stop
words) with a GIN index; weights A (title), B (hypothesis, what we learned), C (rationale and
``search_extra``: product area, tags, key results, team).

SQLite: an FTS5 external-content table with the porter tokenizer, kept in step by triggers.
Django rebuilds a SQLite table (and so drops its triggers) when a later migration alters it;
``sqlite_index_ensure`` runs after every ``migrate`` (see ``LearningsConfig``) and puts back
what is missing, rebuilding the index when it had to.

Both are created by migration ``0002_search_index`` only on their own engine.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "learnings_learning"
FTS_TABLE = "learnings_learning_fts"
INDEXED_COLUMNS = ("title", "hypothesis", "learned", "rationale", "search_extra")

# --- PostgreSQL ------------------------------------------------------------------------------

PG_WEIGHTS = {
    "title": "A",
    "hypothesis": "B",
    "learned": "B",
    "rationale": "C",
    "search_extra": "C",
}
PG_DOCUMENT = " || ".join(
    f"setweight(to_tsvector('english'::regconfig, coalesce({column}, '')), '{weight}')"
    for column, weight in PG_WEIGHTS.items()
)
PG_CREATE = [
    f"ALTER TABLE {TABLE} ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED",
    f"CREATE INDEX learning_search_gin ON {TABLE} USING gin (search_vector)",
]
PG_DROP = [
    "DROP INDEX IF EXISTS learning_search_gin",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search_vector",
]

# --- SQLite ----------------------------------------------------------------------------------

_COLUMNS = ", ".join(INDEXED_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in INDEXED_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in INDEXED_COLUMNS)
SQLITE_FTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({_COLUMNS}, "
    f"content='{TABLE}', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
)
# Only our own identifiers are interpolated into this DDL (no user input reaches it).
_INSERT = f"INSERT INTO {FTS_TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW});"  # noqa: S608
_DELETE = (
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLUMNS}) "  # noqa: S608
    f"VALUES ('delete', old.id, {_OLD});"
)
SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_ai": f"AFTER INSERT ON {TABLE} BEGIN {_INSERT} END",
    f"{FTS_TABLE}_ad": f"AFTER DELETE ON {TABLE} BEGIN {_DELETE} END",
    f"{FTS_TABLE}_au": f"AFTER UPDATE ON {TABLE} BEGIN {_DELETE} {_INSERT} END",
}


def sqlite_index_ensure(connection: BaseDatabaseWrapper) -> bool:
    """Create the FTS5 table and its triggers where missing; return whether it rebuilt.

    A no-op on other engines and before the learnings table exists.
    """
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        existing = {row[0] for row in cursor.fetchall()}
        if TABLE not in existing:
            return False
        missing = [name for name in SQLITE_TRIGGERS if name not in existing]
        if FTS_TABLE in existing and not missing:
            return False
        cursor.execute(SQLITE_FTS)
        for name in missing:
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {SQLITE_TRIGGERS[name]}")
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")  # noqa: S608
    return True


def sqlite_index_drop(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


def search_index_create(connection: BaseDatabaseWrapper) -> None:
    """Create the engine's full-text index (the body of migration 0002)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in PG_CREATE:
                cursor.execute(statement)
    elif connection.vendor == "sqlite":
        sqlite_index_ensure(connection)


def search_index_drop(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in PG_DROP:
                cursor.execute(statement)
    elif connection.vendor == "sqlite":
        sqlite_index_drop(connection)
