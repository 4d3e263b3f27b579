"""The full-text index: a generated tsvector + GIN on PostgreSQL, FTS5 + triggers on SQLite.

The same migration runs on both engines; each creates only its own engine's pieces (see
``learnings.search.index``). Changing that DDL later needs a new migration.
"""

from django.db import migrations

from learnings.search.index import search_index_create, search_index_drop


def forwards(apps, schema_editor):
    search_index_create(schema_editor.connection)


def backwards(apps, schema_editor):
    search_index_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("learnings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
