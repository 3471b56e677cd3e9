"""The text the catalog search indexes for one dataset: its address (also as words), name and table
name on the first line; then its description, tags, product name, and its columns (names, also
as words, and descriptions). On PostgreSQL a GIN index over ``to_tsvector('simple', search_text)``
(migration ``0003_search_postgres``) serves the search.
"""

import re
from collections.abc import Iterable

from apps.catalog.models import Column, DataProduct, Dataset

# PostgreSQL refuses a tsvector over 1 MB; the title and the start of the text are what matters.
MAX_SEARCH_TEXT_CHARS = 100_000

_SEPARATORS = re.compile(r"[._\-\s]+")


def _words(identifier: str) -> str:
    """``hr.census.adult`` -> ``hr census adult``; ``person_id`` -> ``person id``."""
    return _SEPARATORS.sub(" ", identifier).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def search_text_from_parts(
    *,
    address: str,
    name: str,
    table_name: str,
    description: str = "",
    tags: Iterable[str] = (),
    product_name: str = "",
    columns: Iterable[tuple[str, str]] = (),
) -> str:
    """The indexed text, from plain values (the bench builds 100,000 of these without queries)."""
    title = _one_line(" ".join([address, _words(address), name, _words(name), table_name, _words(table_name)]))
    body: list[str] = [description, " ".join(tags), product_name]
    for column_name, column_description in columns:
        body.append(f"{column_name} {_words(column_name)} {column_description}")
    text = title + "\n" + "\n".join(_one_line(part) for part in body if part and part.strip())
    return text[:MAX_SEARCH_TEXT_CHARS]


def dataset_search_text(dataset: Dataset) -> str:
    """The indexed text of one dataset, read fresh from the database (never from stale caches)."""
    tags = dataset.tags.order_by("name").values_list("name", flat=True) if dataset.pk else []
    product_name = ""
    if dataset.product_id:
        product_name = DataProduct.objects.filter(pk=dataset.product_id).values_list("name", flat=True).first() or ""
    columns: Iterable[tuple[str, str]] = []
    if dataset.pk:
        columns = (
            Column.objects.filter(dataset_id=dataset.pk, removed_at__isnull=True)
            .order_by("position", "name")
            .values_list("name", "description")
        )
    return search_text_from_parts(
        address=dataset.address,
        name=dataset.name,
        table_name=dataset.table_name,
        description=dataset.description,
        tags=list(tags),
        product_name=product_name,
        columns=list(columns),
    )


def dataset_reindex(dataset: Dataset) -> None:
    """Store the dataset's search text; call it after any change to what it is built from."""
    dataset.search_text = dataset_search_text(dataset)
    dataset.save(update_fields=["search_text"])
