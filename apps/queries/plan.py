"""What a DP query is once compiled: the contract between the compiler, the noise and the jobs.

A plan holds only public information: the query, the declared bounds and categories, the privacy
unit's contribution bound and the sensitivities that follow. Nothing in it comes from the data.
"""

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from apps.core.errors import ApplicationError


class QueryRejected(ApplicationError):
    """The query breaks a rule of the DP query language; refused before any budget is reserved."""

    status_code = 400
    code = "query_rejected"


@dataclass(frozen=True)
class Measure:
    """One quantity per group that the backend computes and the worker makes noisy.

    ``kind`` "count" counts rows (of ``column`` not null, or all rows when ``column`` is None);
    "sum" adds ``column`` clamped to [lower, upper]. Float sums are computed as integers in fixed
    point: the backend sums round(value * 2**scale) and the true sum is raw / 2**scale.
    Sensitivities are of the vector of this measure over all groups, in raw (backend) units, when
    one privacy unit is added or removed.
    """

    name: str
    kind: Literal["count", "sum"]
    column: str | None
    lower: Decimal | None = None
    upper: Decimal | None = None
    integer: bool = True
    scale: int = 0
    l1_sensitivity: Decimal = Decimal(1)
    l2_sensitivity: Decimal = Decimal(1)


@dataclass(frozen=True)
class OutputColumn:
    """A column of the answer: a group key, or an aggregate built from measures.

    "count" and "sum" read one measure; "avg" reads (sum measure, count measure) and divides the
    noisy values (post-processing).
    """

    name: str
    kind: Literal["group", "count", "sum", "avg"]
    source: str | None = None
    measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupBy:
    """A GROUP BY column: its output keys are the declared categories, or, when none are declared,
    the keys a DP threshold releases (which costs delta). The backend returns keys as text;
    ``logical_type`` is the column's catalog type (declared integer keys are compared as integers)."""

    column: str
    declared_keys: tuple[str, ...] | None
    logical_type: str = "string"


@dataclass(frozen=True)
class QueryPlan:
    dataset_address: str
    dataset_version: int
    normalized_sql: str
    outputs: tuple[OutputColumn, ...]
    measures: tuple[Measure, ...]
    group_by: tuple[GroupBy, ...] = ()
    privacy_unit: str = ""
    max_rows_per_unit: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)
    table_schema: str = ""
    table_name: str = ""
    unit_unique: bool = False

    @property
    def needs_key_release(self) -> bool:
        return any(group.declared_keys is None for group in self.group_by)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "QueryPlan":
        def measure(item: dict[str, Any]) -> Measure:
            decimals = {
                k: Decimal(v) if v is not None else None
                for k, v in item.items()
                if k in ("lower", "upper", "l1_sensitivity", "l2_sensitivity")
            }
            return Measure(**{**item, **decimals})

        return cls(
            dataset_address=data["dataset_address"],
            dataset_version=data["dataset_version"],
            normalized_sql=data["normalized_sql"],
            outputs=tuple(OutputColumn(**{**o, "measures": tuple(o["measures"])}) for o in data["outputs"]),
            measures=tuple(measure(m) for m in data["measures"]),
            group_by=tuple(
                GroupBy(
                    column=g["column"],
                    declared_keys=tuple(g["declared_keys"]) if g["declared_keys"] is not None else None,
                    logical_type=g.get("logical_type", "string"),
                )
                for g in data["group_by"]
            ),
            privacy_unit=data.get("privacy_unit", ""),
            max_rows_per_unit=data["max_rows_per_unit"],
            notes=tuple(data.get("notes", ())),
            table_schema=data.get("table_schema", ""),
            table_name=data.get("table_name", ""),
            unit_unique=bool(data.get("unit_unique", False)),
        )
