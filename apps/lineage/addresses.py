"""How an OpenLineage dataset (``namespace`` + ``name``) maps to a catalog dataset.

Two ways, tried in this order:

1. **The portal's namespace.** ``namespace`` is ``portal`` and ``name`` is the dataset's catalog
   address, ``<domain>.<backend>.<table>`` (``hr.census.adult``). Always unambiguous.
2. **The backend's own address**, following OpenLineage's naming conventions:

   | backend kind | namespace | name |
   | --- | --- | --- |
   | PostgreSQL | ``postgres://{host}:{port}`` | ``{database}.{schema}.{table}``, ``{schema}.{table}``, ``{table}`` |
   | other SQLAlchemy URL with a host | ``{dialect}://{host}:{port}`` | as for PostgreSQL |
   | SQLite file | ``sqlite://{absolute path}`` | ``{table}`` or ``main.{table}`` |
   | DuckDB file | ``duckdb://{absolute path}`` | ``{table}`` or ``{schema}.{table}`` |
   | Folder of Parquet/CSV files | ``file://{absolute folder}`` | ``{table}`` (the file's stem) |
   | Folder of Parquet/CSV files | ``file`` | ``{absolute folder}/{file name}`` (OpenLineage's local-file naming) |

   The host is compared in lower case, a missing PostgreSQL port counts as 5432, a trailing ``/`` is
   ignored. A name without a schema means the backend's default schema (``public``, ``main``).

Anything else is an *external* dataset: it becomes a placeholder node of the lineage graph, never a
catalog dataset. ``openlineage_names(dataset)`` lists the pairs that reach a dataset, for its page.
"""

from pathlib import Path, PurePosixPath

from sqlalchemy.engine import make_url

from apps.catalog.models import Dataset
from apps.domains.models import Backend

PORTAL_NAMESPACE = "portal"
DEFAULT_SCHEMAS = ("", "public", "main")


def _clean(namespace: str) -> str:
    return namespace.strip().rstrip("/")


def _file_path(url: str) -> str:
    if "://" in url:
        try:
            url = make_url(url).database or ""
        except Exception:
            return ""
    if not url.strip():
        return ""
    return str(Path(url).expanduser().resolve())


def backend_namespace(backend: Backend) -> tuple[str, str]:
    """(namespace, database) of a backend: the database is the leading part a name may carry."""
    kind = backend.kind
    if kind in (Backend.Kind.SQLITE, Backend.Kind.DUCKDB, Backend.Kind.DUCKDB_FOLDER):
        path = _file_path(backend.url)
        scheme = {Backend.Kind.SQLITE: "sqlite", Backend.Kind.DUCKDB: "duckdb"}.get(kind, "file")
        return (f"{scheme}://{path}" if path else ""), ""
    try:
        url = make_url(backend.url.strip())
    except Exception:
        return "", ""
    dialect = url.get_backend_name()
    if not url.host:
        if dialect in ("sqlite", "duckdb") and url.database:
            return f"{dialect}://{_file_path(url.database)}", ""
        return "", ""
    scheme = "postgres" if dialect == "postgresql" else dialect
    port = url.port or (5432 if dialect == "postgresql" else None)
    host = url.host.lower()
    return (f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"), url.database or ""


def _normalise(namespace: str) -> str:
    namespace = _clean(namespace)
    if "://" not in namespace:
        return namespace
    scheme, rest = namespace.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql"):
        scheme = "postgres"
        host, _, port = rest.partition(":")
        rest = f"{host.lower()}:{port or 5432}"
    elif scheme not in ("sqlite", "duckdb", "file"):
        rest = rest.lower()
    return f"{scheme}://{rest}"


def _match_in_backend(backend: Backend, database: str, name: str) -> Dataset | None:
    parts = name.split(".")
    table = parts[-1]
    schema = parts[-2] if len(parts) >= 2 else None
    if len(parts) >= 3 and database and parts[-3] != database:
        return None
    if len(parts) > 3:
        return None
    candidates = Dataset.objects.filter(backend=backend, table_name=table).select_related("domain")
    if schema is None or schema in DEFAULT_SCHEMAS:
        schemas = [*DEFAULT_SCHEMAS, schema] if schema else list(DEFAULT_SCHEMAS)
        candidates = candidates.filter(table_schema__in=schemas)
    else:
        candidates = candidates.filter(table_schema=schema)
    return candidates.order_by("removed_at", "pk").first()


def _match_local_file(name: str) -> Dataset | None:
    path = PurePosixPath(name)
    folder, stem = str(path.parent), path.stem
    for backend in Backend.objects.filter(kind=Backend.Kind.DUCKDB_FOLDER):
        if _file_path(backend.url) == folder:
            return _match_in_backend(backend, "", stem)
    return None


def dataset_for(namespace: str, name: str) -> Dataset | None:
    """The catalog dataset an OpenLineage (namespace, name) names, or None for an external one."""
    if namespace.strip() == PORTAL_NAMESPACE:
        return Dataset.objects.select_related("domain").filter(address=name.strip()).first()
    if namespace.strip() == "file" and name.startswith("/"):
        return _match_local_file(name)
    wanted = _normalise(namespace)
    if not wanted:
        return None
    for backend in Backend.objects.select_related("domain").order_by("pk"):
        candidate, database = backend_namespace(backend)
        if candidate and _normalise(candidate) == wanted:
            found = _match_in_backend(backend, database, name.strip())
            if found is not None:
                return found
    return None


def openlineage_names(dataset: Dataset) -> list[tuple[str, str]]:
    """The (namespace, name) pairs an OpenLineage producer may use for this dataset."""
    names = [(PORTAL_NAMESPACE, dataset.address)]
    if dataset.backend is not None:
        namespace, database = backend_namespace(dataset.backend)
        if namespace:
            parts = [database] if database else []
            if dataset.table_schema and (database or dataset.table_schema not in DEFAULT_SCHEMAS):
                parts.append(dataset.table_schema)
            names.append((namespace, ".".join([*parts, dataset.table_name])))
    return names
