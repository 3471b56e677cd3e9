"""PostgreSQL-only search indexes; nothing happens on other databases (SQLite searches with LIKE,
see apps/catalog/search.py).

- a GIN expression index over ``to_tsvector('simple', search_text)``: the full-text match. An
  expression index rather than a stored tsvector column keeps the table narrow, which is what a
  search with many matches pays for (one heap visit per match);
- btrees over the lower-cased name (with ``id``, so that the first page of an empty query is read
  in order instead of sorting every visible dataset), table name and address of current datasets:
  the exact-match lookups. ``COLLATE "C"`` makes ``lower`` a cheap ASCII operation.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX catalog_dataset_search_gin ON catalog_dataset "
    "USING gin (to_tsvector('simple'::regconfig, search_text))",
    'CREATE INDEX catalog_dataset_search_name ON catalog_dataset (lower(name COLLATE "C"), id) '
    "WHERE removed_at IS NULL",
    'CREATE INDEX catalog_dataset_search_table ON catalog_dataset (lower(table_name COLLATE "C")) '
    "WHERE removed_at IS NULL",
    'CREATE INDEX catalog_dataset_search_address ON catalog_dataset (lower(address COLLATE "C")) '
    "WHERE removed_at IS NULL",
]

BACKWARD = [
    "DROP INDEX IF EXISTS catalog_dataset_search_address",
    "DROP INDEX IF EXISTS catalog_dataset_search_table",
    "DROP INDEX IF EXISTS catalog_dataset_search_name",
    "DROP INDEX IF EXISTS catalog_dataset_search_gin",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False),
    ]
