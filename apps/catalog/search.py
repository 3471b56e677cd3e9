"""Catalog search: the datasets a user may see that match a query, ranked, with facet counts.

Ranking: an exact match of the whole query with a dataset's name, table name or address first;
then relevance, the number of query words found in its address (domain, backend, table); then the
name. On PostgreSQL the match is full-text search (``simple`` configuration, every word a prefix)
over ``Dataset.search_text`` through the GIN index of migration ``0003_search_postgres``, and the
page, the total and every facet come from one statement. Elsewhere (SQLite), every word must occur
in ``search_text`` and ``fallback_order`` ranks.

Bounded cost on PostgreSQL, as search engines do: a broad word matches most of a large catalog,
and reading, ranking and counting every match costs microseconds each. So at most
``CANDIDATE_CAP`` candidates are taken straight from the GIN index (a ``LIMIT`` inside a CTE, so
PostgreSQL stops reading the table early), and the ranking, the page, the total and the facets are
computed over those candidates only, plus the exact matches, which come from their own btree
indexes wherever they are. A GIN index has no order, so the candidates are the first matches in
the table's physical order (roughly the oldest datasets first); any other order would mean reading
every match. The empty query takes its candidates in name order, through the name index. When
there were more candidates than the cap, ``total_is_lower_bound`` says so: ``total`` and the facet
counts are then "at least", among the first ``CANDIDATE_CAP``. Visibility and filters apply before
the cap, so an invisible dataset is never a candidate. The SQLite fallback is not capped.

Filters: a dataset matches when it is in *any* of the chosen domains, sensitivities and owners, and
carries *all* of the chosen tags. Facet counts are computed over the filtered result set, which only
ever holds datasets the user may see (``dataset_list_for``).
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Collate, Lower

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset, Tag
from apps.catalog.selectors import dataset_list_for
from apps.core.errors import ApplicationError
from apps.domains.models import Domain, Sensitivity

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_TERM_CHARS = 64
MAX_FILTER_VALUES = 20
MAX_FILTER_VALUE_CHARS = 200
MAX_LIMIT = 100
MAX_OFFSET = 10_000
FACET_SIZE = 20
FACET_KINDS = ("domain", "sensitivity", "tag", "owner")
CANDIDATE_CAP = 2_000

_TERM = re.compile(r"[^\W_]+")
_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
_SENSITIVITY_LABELS = dict(Sensitivity.choices)

FacetRow = tuple[str, str, str | None, int]

# The GIN expression index of migration 0003_search_postgres serves _MATCH_SQL; these fragments
# only ever see the query's base table, and every value they use is a parameter.
_MATCH_SQL = (
    "to_tsvector('simple'::regconfig, \"catalog_dataset\".\"search_text\") @@ to_tsquery('simple'::regconfig, %s)"
)
# The exact matches come from the btree indexes of the same migration, looked up once.
_EXACT_SQL = (
    '"catalog_dataset"."id" IN (SELECT e.id FROM "catalog_dataset" e WHERE e.removed_at IS NULL AND ('
    'lower(e.name COLLATE "C") = lower(%s COLLATE "C")'
    ' OR lower(e.table_name COLLATE "C") = lower(%s COLLATE "C")'
    ' OR lower(e.address COLLATE "C") = lower(%s COLLATE "C")))'
)
# Addresses are lower-case identifiers (domain, backend, table): a plain strpos, a fraction of a
# microsecond per match, where lower() or ILIKE on every match would cost more than the match.
_RELEVANCE_SQL = '(strpos("catalog_dataset"."address", lower(%s COLLATE "C")) > 0)::int'
_SORT_NAME = Lower(Collate("name", "C"))

# c: at most CANDIDATE_CAP + 1 candidates (one more than kept, to tell whether the cap was hit);
# x: the exact matches, wherever they are; m: x and the first CANDIDATE_CAP candidates, ranked
# and counted; g: their counts by domain, product and sensitivity, from which the domain,
# sensitivity, owner facets and the total follow without reading the matches again.
_FACETS_SQL = """
    WITH c AS MATERIALIZED ({candidates}),
         x AS MATERIALIZED ({exact}),
         m AS MATERIALIZED (
           SELECT id, domain_id, product_id, sensitivity, 1 AS exact, relevance, sort_name FROM x
           UNION ALL
           SELECT id, domain_id, product_id, sensitivity, 0, relevance, sort_name
             FROM (SELECT * FROM c LIMIT %s) k WHERE k.id NOT IN (SELECT id FROM x)),
         g AS MATERIALIZED (SELECT domain_id, product_id, sensitivity, count(*) AS n FROM m
                            GROUP BY domain_id, product_id, sensitivity)
    {page}
    SELECT 'candidates', NULL, NULL, (SELECT count(*) FROM c)::bigint, NULL
    UNION ALL
    SELECT 'total', NULL, NULL, coalesce(sum(g.n), 0)::bigint, NULL FROM g
    UNION ALL
    SELECT 'domain', d.slug, d.name, sum(g.n)::bigint, NULL
      FROM g JOIN {domain} d ON d.id = g.domain_id GROUP BY d.slug, d.name
    UNION ALL
    SELECT 'sensitivity', g.sensitivity, NULL, sum(g.n)::bigint, NULL FROM g GROUP BY g.sensitivity
    UNION ALL
    SELECT 'tag', t.name, t.name, x.n, NULL
      FROM (SELECT dt.tag_id, count(*) AS n FROM m JOIN {dataset_tags} dt ON dt.dataset_id = m.id
             GROUP BY dt.tag_id) x
      JOIN {tag} t ON t.id = x.tag_id
    UNION ALL
    SELECT 'owner', u.username, u.username, sum(o.n)::bigint, NULL
      FROM (SELECT g.domain_id, g.product_id, g.sensitivity, g.n, x.user_id
              FROM g JOIN {domain_owners} x ON x.domain_id = g.domain_id
            UNION
            SELECT g.domain_id, g.product_id, g.sensitivity, g.n, y.user_id
              FROM g JOIN {product_owners} y ON y.dataproduct_id = g.product_id) o
      JOIN {user} u ON u.id = o.user_id
     GROUP BY u.username
"""

# The page, ranked, from the matches m of _FACETS_SQL. Usage (events over the last 90 days, kept
# by apps.usage) only breaks ties of relevance: it never lifts a match above an exact one.
_PAGE_SQL = """
    SELECT 'page', NULL, NULL, NULL::bigint,
           (SELECT array_agg(p.id ORDER BY p.exact DESC, p.relevance DESC, p.usage DESC, p.sort_name, p.id)
              FROM (SELECT id, exact, relevance, sort_name,
                           coalesce((SELECT u.score FROM usage_datasetpopularity u WHERE u.dataset_id = m.id), 0)
                             AS usage FROM m
                    ORDER BY exact DESC, relevance DESC, usage DESC, sort_name, id LIMIT %s OFFSET %s) p)
    UNION ALL"""


@dataclass(frozen=True)
class Facet:
    value: str
    label: str
    count: int
    selected: bool = False


@dataclass(frozen=True)
class SearchResult:
    datasets: list[Dataset]
    total: int
    facets: dict[str, list[Facet]]
    query: str
    limit: int = 20
    offset: int = 0
    total_is_lower_bound: bool = False

    @property
    def total_display(self) -> str:
        """``total`` for people: ``2,000+`` when it is a lower bound."""
        return f"{self.total:,}+" if self.total_is_lower_bound else str(self.total)

    @property
    def candidate_cap_display(self) -> str:
        return f"{CANDIDATE_CAP:,}"


def clean_text(raw: str, *, max_chars: int) -> str:
    """Printable text, whitespace collapsed, at most ``max_chars`` long: NUL bytes, control and
    format characters and lone surrogates become spaces, so no input can break a query."""
    text = unicodedata.normalize("NFKC", raw[: max_chars * 2])
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(text.split())[:max_chars].strip()


def query_terms(query: str) -> list[str]:
    """The words of a query (letters and digits only, so never a tsquery operator), deduplicated."""
    terms: list[str] = []
    for match in _TERM.findall(query):
        term = match[:MAX_TERM_CHARS]
        if term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    return terms[:MAX_TERMS]


def fallback_order(query: str, rows: Iterable[tuple[int, str, str, str]]) -> list[int]:
    """Ids of ``(id, name, table_name, address)`` rows, best first: an exact match of the query with
    the name, table name or address; then names that contain every term; then by name."""
    wanted = exact_text(query).casefold()
    terms = [t.casefold() for t in query_terms(query)]

    def key(row: tuple[int, str, str, str]) -> tuple[int, int, str, int]:
        pk, name, table_name, address = row
        exact = bool(wanted) and wanted in (name.casefold(), table_name.casefold(), address.casefold())
        in_name = bool(terms) and all(t in name.casefold() for t in terms)
        return (0 if exact else 1, 0 if in_name else 1, name.casefold(), pk)

    return [row[0] for row in sorted(rows, key=key)]


def _clean_values(values: Iterable[str]) -> list[str]:
    cleaned = (clean_text(str(v), max_chars=MAX_FILTER_VALUE_CHARS) for v in list(values)[: MAX_FILTER_VALUES * 2])
    return list(dict.fromkeys(v for v in cleaned if v))[:MAX_FILTER_VALUES]


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ApplicationError(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ApplicationError(f"offset must be between 0 and {MAX_OFFSET}.", field="offset")


def _filtered(
    user: Any, *, domains: list[str], sensitivities: list[str], tags: list[str], owners: list[str]
) -> QuerySet[Dataset]:
    datasets = dataset_list_for(user=user)
    if domains:
        datasets = datasets.filter(domain__slug__in=domains)
    if sensitivities:
        datasets = datasets.filter(sensitivity__in=sensitivities)
    for tag in tags:
        tagged = Dataset.tags.through.objects.filter(dataset_id=OuterRef("pk"), tag__name=tag)
        datasets = datasets.filter(Exists(tagged))
    if owners:
        datasets = datasets.filter(
            Q(domain_id__in=Domain.objects.filter(owners__username__in=owners).values("pk"))
            | Q(product_id__in=DataProduct.objects.filter(owners__username__in=owners).values("pk"))
        )
    return datasets


def exact_text(query: str) -> str:
    """What an exact match compares with: the query without punctuation around it (``"adult"!``)."""
    return _EDGE_PUNCTUATION.sub("", query)


def postgres_search(
    datasets: QuerySet[Dataset], *, query: str, terms: list[str], limit: int, offset: int
) -> tuple[list[int], int, list[FacetRow], bool]:
    """One statement for the page, the total and the facets, over at most ``CANDIDATE_CAP``
    candidates and the exact matches (see the module docstring). The last item says whether the
    cap was hit, so that the total is a lower bound."""
    connection = connections[datasets.db]
    cap = CANDIDATE_CAP
    columns = ("id", "domain_id", "product_id", "sensitivity", "relevance", "sort_name")
    if terms:
        # The terms hold letters and digits only; the tsquery text is a parameter all the same.
        tsquery = " & ".join(f"{term}:*" for term in terms)
        relevance = " + ".join([_RELEVANCE_SQL] * len(terms))
        ranked = datasets.annotate(
            relevance=RawSQL(relevance, terms, output_field=IntegerField()),  # noqa: S611
            sort_name=_SORT_NAME,
        ).values(*columns)
        # No ORDER BY: the GIN index has no order, and any order would mean reading every match.
        candidates = ranked.filter(RawSQL(_MATCH_SQL, [tsquery], output_field=BooleanField())).order_by()  # noqa: S611
        exact = ranked.filter(
            RawSQL(_EXACT_SQL, [exact_text(query)] * 3, output_field=BooleanField())  # noqa: S611
        ).order_by()
    else:
        ranked = datasets.annotate(relevance=Value(0, output_field=IntegerField()), sort_name=_SORT_NAME)
        candidates = ranked.values(*columns).order_by(_SORT_NAME, "id")
        exact = candidates.filter(RawSQL("false", [], output_field=BooleanField())).order_by()
    # The empty query's candidates are the first by name, so they hold its first pages too.
    page_in_candidates = bool(terms) or offset + limit <= cap
    page_sql, page_params = (_PAGE_SQL, [limit, offset]) if page_in_candidates else ("", [])
    candidates_sql, candidates_params = _sql(candidates[: cap + 1])
    exact_sql, exact_params = _sql(exact)
    sql = _FACETS_SQL.format(candidates=candidates_sql, exact=exact_sql, page=page_sql, **_table_names(connection))
    with transaction.atomic(using=datasets.db), connection.cursor() as cursor:
        # JIT compilation costs tens of milliseconds and never pays off here; nor do parallel
        # workers, which start in milliseconds each and evaluate the visibility subquery again.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true),"
            " set_config('max_parallel_workers_per_gather', '0', true)"
        )
        cursor.execute(sql, [*candidates_params, *exact_params, cap, *page_params])
        rows = cursor.fetchall()
    page_ids: list[int] = []
    if not page_in_candidates:
        # Every visible dataset by name: the name index finds the page without sorting them all.
        ordered = datasets.order_by(_SORT_NAME, "id").values_list("id", flat=True)
        page_ids = list(ordered[offset : offset + limit])
    total, capped = 0, False
    facet_rows: list[FacetRow] = []
    for kind, value, label, count, ids in rows:
        if kind == "page":
            page_ids = list(ids or [])
        elif kind == "candidates":
            capped = int(count) > cap
        elif kind == "total":
            total = int(count)
        else:
            facet_rows.append((kind, value, label, int(count)))
    return page_ids, total, facet_rows, capped


def _sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


def _table_names(connection: Any) -> dict[str, str]:
    names = {
        "domain": Domain._meta.db_table,
        "dataset_tags": Dataset.tags.through._meta.db_table,
        "tag": Tag._meta.db_table,
        "domain_owners": Domain.owners.through._meta.db_table,
        "product_owners": DataProduct.owners.through._meta.db_table,
        "user": User._meta.db_table,
    }
    return {key: connection.ops.quote_name(value) for key, value in names.items()}


def _fallback_facet_rows(matches: QuerySet[Dataset]) -> list[FacetRow]:
    rows: list[FacetRow] = []
    unordered = matches.order_by()
    for slug, name, count in unordered.values_list("domain__slug", "domain__name").annotate(n=Count("pk")):
        rows.append(("domain", slug, name, count))
    for value, count in unordered.values_list("sensitivity").annotate(n=Count("pk")):
        rows.append(("sensitivity", value, None, count))
    tagged = Dataset.tags.through.objects.filter(dataset_id__in=unordered.values("pk")).order_by()
    for name, count in tagged.values_list("tag__name").annotate(n=Count("dataset_id", distinct=True)):
        rows.append(("tag", name, name, count))
    owned: set[tuple[int, str]] = set()
    for path in ("domain__owners__username", "product__owners__username"):
        owned.update(unordered.filter(**{f"{path}__isnull": False}).values_list("pk", path))
    counts: dict[str, int] = {}
    for _pk, username in owned:
        counts[username] = counts.get(username, 0) + 1
    rows.extend(("owner", username, username, count) for username, count in counts.items())
    return rows


def fallback_search(
    datasets: QuerySet[Dataset], *, query: str, terms: list[str], limit: int, offset: int
) -> tuple[list[int], int, list[FacetRow]]:
    for term in terms:
        datasets = datasets.filter(search_text__icontains=term)
    ordered = fallback_order(query, datasets.order_by().values_list("id", "name", "table_name", "address"))
    return ordered[offset : offset + limit], len(ordered), _fallback_facet_rows(datasets)


def _facets(rows: Iterable[FacetRow], selected: dict[str, list[str]]) -> dict[str, list[Facet]]:
    facets: dict[str, list[Facet]] = {}
    for kind in FACET_KINDS:
        chosen = selected[kind]
        found = [
            Facet(
                value=value,
                label=_SENSITIVITY_LABELS.get(value, value) if kind == "sensitivity" else (label or value),
                count=count,
                selected=value in chosen,
            )
            for row_kind, value, label, count in rows
            if row_kind == kind
        ]
        found.sort(key=lambda f: (-f.count, f.label.casefold(), f.value))
        shown = found[:FACET_SIZE] + [f for f in found[FACET_SIZE:] if f.selected]
        present = {f.value for f in found}
        # A chosen value with no match stays listed (count 0) so that it can be unchosen.
        shown += [
            Facet(value=v, label=_SENSITIVITY_LABELS.get(v, v) if kind == "sensitivity" else v, count=0, selected=True)
            for v in chosen
            if v not in present
        ]
        facets[kind] = shown
    return facets


def catalog_search(
    *,
    user: Any,
    query: str,
    domains: Sequence[str] = (),
    sensitivities: Sequence[str] = (),
    tags: Sequence[str] = (),
    owners: Sequence[str] = (),
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """One page of the datasets ``user`` may see that match ``query`` and the filters.

    Any text is accepted: it is cleaned and cut to ``MAX_QUERY_CHARS``; an empty query lists
    everything visible. Raises ``ApplicationError`` for a limit or offset out of range.
    """
    _check_page(limit, offset)
    query = clean_text(query or "", max_chars=MAX_QUERY_CHARS)
    terms = query_terms(query)
    selected = {
        "domain": _clean_values(domains),
        "sensitivity": _clean_values(sensitivities),
        "tag": _clean_values(tags),
        "owner": _clean_values(owners),
    }
    datasets = _filtered(
        user,
        domains=selected["domain"],
        sensitivities=selected["sensitivity"],
        tags=selected["tag"],
        owners=selected["owner"],
    )
    if query and not terms:
        # Nothing searchable (only punctuation or symbols): nothing can match.
        datasets = datasets.none()
    capped = False
    try:
        if connections[datasets.db].vendor == "postgresql":
            page_ids, total, facet_rows, capped = postgres_search(
                datasets, query=query, terms=terms, limit=limit, offset=offset
            )
        else:
            page_ids, total, facet_rows = fallback_search(
                datasets, query=query, terms=terms, limit=limit, offset=offset
            )
    except EmptyResultSet:  # the user sees no domain at all, or the query can match nothing
        page_ids, total, facet_rows = [], 0, []
    loaded = Dataset.objects.filter(pk__in=page_ids).select_related("domain", "product").prefetch_related("tags")
    by_pk = {dataset.pk: dataset for dataset in loaded}
    return SearchResult(
        datasets=[by_pk[pk] for pk in page_ids if pk in by_pk],
        total=total,
        facets=_facets(facet_rows, selected),
        query=query,
        limit=limit,
        offset=offset,
        total_is_lower_bound=capped,
    )
