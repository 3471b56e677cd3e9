"""Pure harvest logic: what a backend's schema means for the catalog.

``apply_table`` turns one introspected table into Dataset and Column rows and says what changed;
``mark_missing`` retires what the backend no longer has. Neither reads a data value: a row count
is passed in by the caller, who only asks for one when ``counts_rows`` says the dataset is open.
Everything people wrote (descriptions, tags, confirmed classifications, bounds, categories, the
privacy unit) is left as it is.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from apps.catalog.models import Column, Dataset
from apps.domains.connectors import TableInfo, logical_type_for
from apps.domains.models import Backend, Sensitivity

Classification = Column.Classification

_IDENTIFIER_WORDS = {
    "name", "firstname", "lastname", "surname", "fullname", "givenname", "username", "email", "mail",
    "ssn", "phone", "telephone", "mobile", "fax", "address", "street", "birth", "birthdate", "birthday",
    "dob", "passport", "iban", "ip",
}  # fmt: skip
_NAME_QUALIFIERS = {
    "first",
    "last",
    "full",
    "given",
    "family",
    "middle",
    "maiden",
    "user",
    "customer",
    "employee",
    "person",
    "patient",
    "contact",
    "client",
    "member",
}
_PERSON_WORDS = {
    "person",
    "customer",
    "employee",
    "user",
    "patient",
    "member",
    "client",
    "student",
    "citizen",
    "people",
    "individual",
}
_IDENTIFIER_SUBSTRINGS = (
    "email",
    "phone",
    "birth",
    "surname",
    "firstname",
    "lastname",
    "fullname",
    "username",
    "passport",
)
_QUASI_WORDS = {
    "age", "sex", "gender", "zip", "zipcode", "postcode", "postal", "race", "ethnicity", "country",
    "nationality", "city", "marital", "occupation", "education", "job", "profession", "workclass",
    "relationship", "language",
}  # fmt: skip
_SENSITIVE_WORDS = {
    "salary", "income", "wage", "wages", "health", "diagnosis", "disease", "medical", "medication",
    "treatment", "religion", "political", "sexual", "orientation", "disability", "pregnancy",
    "criminal", "conviction", "capital", "debt", "credit", "bonus",
}  # fmt: skip
_SENSITIVE_SUBSTRINGS = ("salary", "income", "diagnos")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def suggest_classification(name: str, data_type: str = "") -> str:
    """A first guess from the column's name and type, for the owner to confirm."""
    words = _words(name)
    joined = "".join(words)
    kinds = set(words)
    name_is_personal = "name" in kinds and (len(words) == 1 or bool(kinds & _NAME_QUALIFIERS))
    person_id = len(words) >= 2 and words[-1] in ("id", "number", "no") and words[-2] in _PERSON_WORDS
    if (
        name_is_personal
        or person_id
        or (kinds & _IDENTIFIER_WORDS) - {"name"}
        or any(s in joined for s in _IDENTIFIER_SUBSTRINGS)
        or data_type.strip().upper() in ("INET", "CIDR", "MACADDR")
    ):
        return Classification.IDENTIFIER
    if kinds & _SENSITIVE_WORDS or any(s in joined for s in _SENSITIVE_SUBSTRINGS):
        return Classification.SENSITIVE
    if kinds & _QUASI_WORDS or joined in ("zipcode", "postcode", "dateofbirth"):
        return Classification.QUASI_IDENTIFIER
    return Classification.PUBLIC


def dataset_address(backend: Backend, table: TableInfo, default_schema: str) -> str:
    parts = [backend.domain.slug, backend.slug]
    if table.schema and table.schema != default_schema:
        parts.append(table.schema)
    parts.append(table.name)
    return ".".join(parts)


@dataclass
class HarvestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: "HarvestReport") -> None:
        self.added += other.added
        self.changed += other.changed
        self.removed += other.removed
        self.warnings += other.warnings

    def as_dict(self) -> dict[str, list[str]]:
        report = {"added": self.added, "changed": self.changed, "removed": self.removed}
        return {**report, "warnings": self.warnings} if self.warnings else report

    @property
    def schema_changed(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _stricter(current: str, domain_sensitivity: str) -> str:
    return Sensitivity.CONFIDENTIAL if Sensitivity.CONFIDENTIAL in (current, domain_sensitivity) else current


def counts_rows(backend: Backend, address: str) -> bool:
    """Whether the harvest may count this table's rows: only when the dataset is (and stays) open."""
    if backend.domain.sensitivity != Sensitivity.OPEN:
        return False
    existing = Dataset.objects.filter(address=address).values_list("sensitivity", flat=True).first()
    return existing in (None, Sensitivity.OPEN)


def search_text_for(dataset: Dataset) -> str:
    try:
        from apps.catalog.search_index import dataset_search_text
    except ImportError:
        return _fallback_search_text(dataset)
    return dataset_search_text(dataset)


def _fallback_search_text(dataset: Dataset) -> str:
    columns = dataset.columns.filter(removed_at__isnull=True).values_list("name", flat=True)
    tags = dataset.tags.values_list("name", flat=True)
    return " ".join([dataset.address, dataset.name, dataset.description, *tags, *columns])


def _apply_columns(dataset: Dataset, table: TableInfo, now: datetime, report: HarvestReport) -> None:
    existing = {c.name: c for c in dataset.columns.all()}
    seen: set[str] = set()
    for position, info in enumerate(table.columns):
        seen.add(info.name)
        label = f"{dataset.address}.{info.name}"
        logical = logical_type_for(info.data_type)
        column = existing.get(info.name)
        if column is None:
            Column.objects.create(
                dataset=dataset, name=info.name, position=position, data_type=info.data_type,
                logical_type=logical, nullable=info.nullable, is_unique=info.unique,
                classification=suggest_classification(info.name, info.data_type), classification_confirmed=False,
            )  # fmt: skip
            report.added.append(label)
            continue
        fields: list[str] = []
        if column.removed_at is not None:
            column.removed_at = None
            fields.append("removed_at")
            report.added.append(label)
        elif (column.data_type, column.nullable, column.is_unique) != (info.data_type, info.nullable, info.unique):
            report.changed.append(label)
        for name, value in (
            ("data_type", info.data_type),
            ("logical_type", logical),
            ("nullable", info.nullable),
            ("is_unique", info.unique),
            ("position", position),
        ):
            if getattr(column, name) != value:
                setattr(column, name, value)
                fields.append(name)
        suggestion = suggest_classification(info.name, info.data_type)
        if not column.classification_confirmed and column.classification != suggestion:
            column.classification = suggestion
            fields.append("classification")
        if fields:
            column.save(update_fields=fields)
    for name, column in existing.items():
        if name not in seen and column.removed_at is None:
            column.removed_at = now
            column.save(update_fields=["removed_at"])
            report.removed.append(f"{dataset.address}.{name}")


def apply_table(
    *, backend: Backend, table: TableInfo, default_schema: str, row_count: int | None, now: datetime
) -> HarvestReport:
    """Create or update the dataset of one table. Call inside a transaction."""
    report = HarvestReport()
    address = dataset_address(backend, table, default_schema)
    domain = backend.domain
    dataset = Dataset.objects.select_for_update().filter(address=address).first()
    if dataset is None:
        dataset = Dataset.objects.create(
            domain=domain, backend=backend, address=address, name=table.name, table_schema=table.schema,
            table_name=table.name, sensitivity=domain.sensitivity, harvested_at=now, data_updated_at=now,
        )  # fmt: skip
        report.added.append(address)
        _apply_columns(dataset, table, now, HarvestReport())
    else:
        if dataset.removed_at is not None:
            dataset.removed_at = None
            report.added.append(address)
        _apply_columns(dataset, table, now, report)
        if report.schema_changed:
            dataset.version += 1
        dataset.backend = dataset.backend or backend
        dataset.table_schema, dataset.table_name = table.schema, table.name
        dataset.sensitivity = _stricter(dataset.sensitivity, domain.sensitivity)
        dataset.harvested_at = now
    is_open = dataset.sensitivity == Sensitivity.OPEN and domain.sensitivity == Sensitivity.OPEN
    # Freshness: the data changed when the table (re)appeared, its schema changed, or an open table's
    # row count changed; never moved back (a lineage event may have reported a later update).
    if report.added or report.schema_changed or (is_open and row_count is not None and row_count != dataset.row_count):
        dataset.data_updated_at = max(filter(None, (dataset.data_updated_at, now)))
    dataset.row_count = row_count if is_open else None
    dataset.search_text = search_text_for(dataset)
    dataset.save()
    return report


def mark_missing(*, backend: Backend, present: Iterable[str], now: datetime) -> HarvestReport:
    """Set ``removed_at`` on this backend's datasets the harvest did not find."""
    report = HarvestReport()
    gone = (
        Dataset.objects.filter(backend=backend, removed_at__isnull=True)
        .exclude(address__in=list(present))
        .order_by("address")
    )
    for dataset in gone.select_for_update():
        dataset.removed_at = now
        dataset.save(update_fields=["removed_at", "updated_at"])
        report.removed.append(dataset.address)
    return report
