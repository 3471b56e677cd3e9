"""Reading a governance file node by node, so that every problem is reported with its line.

Pure: reads no database. docs/governance.md describes the format."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

import yaml
from django.utils.text import slugify

from apps.catalog.models import DataProduct
from apps.catalog.validation import parse_tags
from apps.core.errors import ApplicationError
from apps.domains.connectors import file_path, parse_url
from apps.domains.models import Backend, Sensitivity
from apps.privacy.models import AccessMode
from apps.privacy.validation import parse_amount, parse_delta, parse_epsilon, parse_expiry, parse_mechanisms

FORMAT_VERSION = "1"
MAX_FILE_CHARS = 2_000_000
MAX_TEXT = 20_000
MAX_FRESHNESS_HOURS = Decimal(24 * 3660)
_BACKEND_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_NULL = "tag:yaml.org,2002:null"
_YAML_SPECIALS = {".nan": "NaN", ".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity"}
_FILE_KINDS = {Backend.Kind.SQLITE, Backend.Kind.DUCKDB, Backend.Kind.DUCKDB_FOLDER}
_SUBJECTS = ("user", "group")
_SCOPES = ("domain", "product", "dataset")
_INVALID: Any = object()
_EMPTY = yaml.ScalarNode(_NULL, "")


class Ref(NamedTuple):
    name: str
    line: int


@dataclass(frozen=True)
class Problem:
    line: int  # 0: the problem belongs to no line of the file
    message: str


class GovernanceError(Exception):
    """The file is invalid, or a service refused one of its changes: nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = sorted(problems, key=lambda problem: problem.line)


@dataclass
class BackendSpec:
    line: int
    slug: str
    kind: str
    url: str  # as the backend services store it
    password_env: str | None


@dataclass
class ProductSpec:
    line: int
    slug: str
    fields: dict[str, Any]
    datasets: list[Ref] | None


@dataclass
class DomainSpec:
    line: int
    slug: str
    fields: dict[str, Any]
    backends: list[BackendSpec]
    products: list[ProductSpec]


@dataclass
class BudgetSpec:
    line: int
    dataset: Ref
    epsilon_limit: Decimal
    delta_limit: Decimal | None


@dataclass
class PolicySpec:
    line: int
    subject: tuple[str, Ref]
    scope: tuple[str, Ref]
    fields: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.subject[0], self.subject[1].name, self.scope[0], self.scope[1].name)


@dataclass
class Spec:
    domains: list[DomainSpec] = field(default_factory=list)
    budgets: list[BudgetSpec] = field(default_factory=list)
    policies: list[PolicySpec] = field(default_factory=list)


def policy_target(key: tuple[str, str, str, str]) -> str:
    return f"policy {key[0]} {key[1]} on {key[2]} {key[3]}"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, where: yaml.Node | int, message: str) -> Any:
        self.problems.append(Problem(where if isinstance(where, int) else _line(where), message))
        return _INVALID

    def mapping(
        self, node: yaml.Node, what: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values.")
            return None
        found: dict[str, yaml.Node] = {}
        allowed = (*required, *optional)
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                self.error(key_node, f"the keys of {what} must be plain names.")
            elif key in found:
                self.error(key_node, f"duplicate key {key!r} in {what}.")
            elif key not in allowed:
                hint = (
                    "a password is never written in the file: name an environment variable with password_env"
                    if key == "password"
                    else f"expected one of: {', '.join(allowed)}"
                )
                self.error(key_node, f"unknown key {key!r} in {what} ({hint}).")
            else:
                found[key] = value_node
        for key in required:
            if key not in found:
                self.error(node, f"{what} is missing {key!r}.")
        return found

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list.")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            return self.error(node, f"{what} must be a single value, not a list or a mapping.")
        return "" if node.tag == _NULL else node.value

    def text(self, node: yaml.Node, what: str, *, max_length: int = MAX_TEXT, required: bool = False) -> str:
        value = self.scalar(node, what)
        if value is _INVALID:
            return value
        value = value.strip()
        if len(value) > max_length or "\x00" in value:
            return self.error(node, f"{what} must be at most {max_length} characters of text.")
        if required and not value:
            return self.error(node, f"{what} must not be empty.")
        return value

    def choice(self, node: yaml.Node, what: str, choices: Iterable[str]) -> str:
        value = self.scalar(node, what)
        choices = list(choices)
        if value is not _INVALID and value not in choices:
            return self.error(node, f"{what} must be one of: {', '.join(choices)}.")
        return value

    def slug(self, node: yaml.Node, what: str) -> str:
        value = self.text(node, what, max_length=63, required=True)
        if value is not _INVALID and slugify(value) != value:
            return self.error(node, f"{what} must be a slug: lower-case letters, digits, - or _.")
        return value

    def names(self, node: yaml.Node, what: str) -> list[Ref]:
        refs: list[Ref] = []
        for item in self.sequence(node, what):
            name = self.text(item, f"each of {what}", max_length=300, required=True)
            if name is _INVALID:
                continue
            if name in (ref.name for ref in refs):
                self.error(item, f"{name!r} is listed twice in {what}.")
                continue
            refs.append(Ref(name, _line(item)))
        return refs

    def ref(self, node: yaml.Node, what: str) -> Ref:
        return Ref(self.text(node, what, max_length=300, required=True), _line(node))

    def number(self, node: yaml.Node, what: str, parse: Callable[[str], Any], *, nullable: bool = False) -> Any:
        """An unquoted number, parsed from its text as written (no float in between)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL and node.style is None:
            return None if nullable else self.error(node, f"{what} must be a number.")
        if not isinstance(node, yaml.ScalarNode) or node.style is not None:
            return self.error(node, f"{what} must be a number (not quoted text, a list or a mapping).")
        try:
            return parse(_YAML_SPECIALS.get(node.value.lower(), node.value))
        except ApplicationError as exc:
            return self.error(node, exc.message)

    def expiry(self, node: yaml.Node, what: str) -> datetime | None:
        value = self.scalar(node, what)
        if value is _INVALID or value == "":
            return None if value == "" else value
        try:
            return parse_expiry(value)
        except ApplicationError as exc:
            return self.error(node, exc.message)

    def tags(self, node: yaml.Node, what: str) -> list[str]:
        try:
            return sorted(parse_tags([ref.name for ref in self.names(node, what)]))
        except ApplicationError as exc:
            return self.error(node, exc.message)

    def mechanisms(self, node: yaml.Node, what: str) -> list[str]:
        try:
            return parse_mechanisms([ref.name for ref in self.names(node, what)])
        except ApplicationError as exc:
            return self.error(node, exc.message)

    def env_name(self, node: yaml.Node, what: str) -> str | None:
        value = self.text(node, what, max_length=128)
        if value is not _INVALID and value and not _ENV_NAME.match(value):
            return self.error(node, f"{what} must be the name of an environment variable, e.g. HR_DB_PASSWORD.")
        return value or None


def _hours(raw: str) -> Decimal:
    return parse_amount(
        raw, field="freshness_hours", allow_zero=False, maximum=MAX_FRESHNESS_HOURS, places=Decimal("1e-10")
    )


_FIELDS: dict[str, Callable[[_Reader, yaml.Node], Any]] = {
    "name": lambda r, n: r.text(n, "name", max_length=200, required=True),
    "description": lambda r, n: r.text(n, "description"),
    "sensitivity": lambda r, n: r.choice(n, "sensitivity", Sensitivity.values),
    "owners": lambda r, n: r.names(n, "owners"),
    "visible_to_groups": lambda r, n: r.names(n, "visible_to_groups"),
    "tags": lambda r, n: r.tags(n, "tags"),
    "status": lambda r, n: r.choice(n, "status", DataProduct.Status.values),
    "freshness_hours": lambda r, n: r.number(n, "freshness_hours", _hours, nullable=True),
    "access_mode": lambda r, n: r.choice(n, "access_mode", AccessMode.values),
    "epsilon_budget": lambda r, n: r.number(n, "epsilon_budget", partial(parse_epsilon, field="epsilon_budget")),
    "delta_budget": lambda r, n: r.number(n, "delta_budget", partial(parse_delta, field="delta_budget")),
    "epsilon_per_release_cap": lambda r, n: r.number(
        n,
        "epsilon_per_release_cap",
        partial(parse_epsilon, field="epsilon_per_release_cap", allow_zero=False),
        nullable=True,
    ),
    "allowed_mechanisms": lambda r, n: r.mechanisms(n, "allowed_mechanisms"),
    "expires_at": lambda r, n: r.expiry(n, "expires_at"),
}
_DOMAIN_FIELDS = ("name", "description", "sensitivity", "owners", "visible_to_groups")
_PRODUCT_FIELDS = ("name", "description", "owners", "tags", "status", "freshness_hours")
_POLICY_FIELDS = (
    "access_mode",
    "epsilon_budget",
    "delta_budget",
    "epsilon_per_release_cap",
    "allowed_mechanisms",
    "expires_at",
)


def _fields(reader: _Reader, keys: dict[str, yaml.Node], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _FIELDS[name](reader, keys[name]) for name in names if name in keys}


def _stored_url(kind: str, url: str) -> str:
    """The URL as ``apps.domains.services`` stores it, so that an unchanged URL compares equal."""
    if kind in _FILE_KINDS:
        path = file_path(kind, url)
        if not path.is_absolute():
            raise ApplicationError("url must be an absolute path (starting with /).")
        return str(path)
    parsed = parse_url(url)
    if parsed.password or "password" in parsed.query:
        raise ApplicationError(
            "url must not hold a password: put it in an environment variable and name it with password_env."
        )
    return parsed.render_as_string(hide_password=False)


def _read_backend(reader: _Reader, node: yaml.Node) -> BackendSpec | None:
    keys = reader.mapping(node, "a backend", ("slug", "kind", "url"), ("password_env",))
    if keys is None or len({"slug", "kind", "url"} & keys.keys()) < 3:
        return None
    slug = reader.text(keys["slug"], "slug", max_length=63, required=True)
    if slug is not _INVALID and not _BACKEND_SLUG.match(slug):
        reader.error(keys["slug"], "slug must be lower-case letters, digits, - or _ (at most 63).")
    kind = reader.choice(keys["kind"], "kind", Backend.Kind.values)
    url = reader.text(keys["url"], "url", max_length=1000, required=True)
    password_env = reader.env_name(keys["password_env"], "password_env") if "password_env" in keys else None
    if kind is not _INVALID and url is not _INVALID:
        try:
            url = _stored_url(kind, url)
        except ApplicationError as exc:
            reader.error(keys["url"], exc.message if exc.message.startswith("url") else f"url: {exc.message}")
    return BackendSpec(_line(node), slug, kind, url, password_env)


def _read_product(reader: _Reader, node: yaml.Node) -> ProductSpec | None:
    keys = reader.mapping(node, "a product", ("slug",), (*_PRODUCT_FIELDS, "datasets"))
    if keys is None or "slug" not in keys:
        return None
    datasets = reader.names(keys["datasets"], "datasets") if "datasets" in keys else None
    return ProductSpec(_line(node), reader.slug(keys["slug"], "slug"), _fields(reader, keys, _PRODUCT_FIELDS), datasets)


def _read_domain(reader: _Reader, node: yaml.Node) -> DomainSpec | None:
    keys = reader.mapping(node, "a domain", ("slug",), (*_DOMAIN_FIELDS, "backends", "products"))
    if keys is None or "slug" not in keys:
        return None
    backends = [_read_backend(reader, item) for item in reader.sequence(keys.get("backends", _EMPTY), "backends")]
    products = [_read_product(reader, item) for item in reader.sequence(keys.get("products", _EMPTY), "products")]
    return DomainSpec(
        _line(node),
        reader.slug(keys["slug"], "slug"),
        _fields(reader, keys, _DOMAIN_FIELDS),
        [backend for backend in backends if backend],
        [product for product in products if product],
    )


def _read_budget(reader: _Reader, node: yaml.Node) -> BudgetSpec | None:
    keys = reader.mapping(node, "a dataset budget", ("dataset", "epsilon_limit"), ("delta_limit",))
    if keys is None or len({"dataset", "epsilon_limit"} & keys.keys()) < 2:
        return None
    return BudgetSpec(
        _line(node),
        reader.ref(keys["dataset"], "dataset"),
        reader.number(keys["epsilon_limit"], "epsilon_limit", partial(parse_epsilon, field="epsilon_limit")),
        reader.number(keys["delta_limit"], "delta_limit", partial(parse_delta, field="delta_limit"))
        if "delta_limit" in keys
        else None,
    )


def _read_policy(reader: _Reader, node: yaml.Node) -> PolicySpec | None:
    keys = reader.mapping(
        node, "a policy", ("access_mode", "epsilon_budget"), (*_SUBJECTS, *_SCOPES, *_POLICY_FIELDS[2:])
    )
    if keys is None:
        return None
    subjects = [name for name in _SUBJECTS if name in keys]
    scopes = [name for name in _SCOPES if name in keys]
    if len(subjects) != 1:
        reader.error(node, "a policy names exactly one subject: `user: USERNAME` or `group: GROUP`.")
    if len(scopes) != 1:
        reader.error(
            node, "a policy names exactly one scope: `dataset: ADDRESS`, `product: DOMAIN/SLUG` or `domain: SLUG`."
        )
    if len(subjects) != 1 or len(scopes) != 1:
        return None
    scope = reader.ref(keys[scopes[0]], scopes[0])
    if scopes[0] == "product" and scope.name is not _INVALID and not re.fullmatch(r"[^/\s]+/[^/\s]+", scope.name):
        reader.error(keys["product"], "product must be written DOMAIN/SLUG, e.g. hr/census.")
    return PolicySpec(
        _line(node),
        (subjects[0], reader.ref(keys[subjects[0]], subjects[0])),
        (scopes[0], scope),
        _fields(reader, keys, _POLICY_FIELDS),
    )


def _compose(text: str) -> yaml.Node | None:
    if len(text) > MAX_FILE_CHARS:
        raise GovernanceError([Problem(1, f"the file is larger than {MAX_FILE_CHARS} characters.")])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            # An alias can make a small file expand into a huge tree; the format never needs one.
            if isinstance(event, yaml.AliasEvent):
                raise GovernanceError(
                    [Problem(event.start_mark.line + 1, "aliases (*name) are not supported: write the value out.")]
                )
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise GovernanceError([Problem(mark.line + 1 if mark else 1, f"not valid YAML: {problem}.")]) from None
    except yaml.YAMLError as exc:
        raise GovernanceError([Problem(1, f"not valid YAML: {exc}.")]) from None
    except RecursionError:
        raise GovernanceError([Problem(1, "the file is nested too deeply.")]) from None


def _check_duplicates(reader: _Reader, spec: Spec) -> None:
    def once(items: Iterable[tuple[Any, int]], label: Callable[[Any], str]) -> None:
        seen: dict[Any, int] = {}
        for key, line in items:
            if not all(map(is_valid, key if isinstance(key, tuple) else (key,))):
                continue
            if key in seen:
                reader.error(line, f"{label(key)} is already described on line {seen[key]}.")
            else:
                seen[key] = line

    once(((d.slug, d.line) for d in spec.domains), lambda slug: f"domain {slug}")
    for domain in spec.domains:
        once(((b.slug, b.line) for b in domain.backends), lambda slug, d=domain: f"backend {d.slug}.{slug}")
        once(((p.slug, p.line) for p in domain.products), lambda slug, d=domain: f"product {d.slug}/{slug}")
    once(
        ((ref.name, ref.line) for d in spec.domains for p in d.products for ref in p.datasets or []),
        lambda address: f"dataset {address} (a dataset is the output of one product)",
    )
    once(((b.dataset.name, b.line) for b in spec.budgets), lambda address: f"the budget of {address}")
    once(((p.key, p.line) for p in spec.policies), policy_target)


def is_valid(value: Any) -> bool:
    """False for what the reader could not read (it reported why)."""
    return value is not _INVALID


def read_governance(text: str) -> tuple[Spec, list[Problem]]:
    """The file's contents, and every problem found in them; a syntax error raises ``GovernanceError``.

    Reads no database. Entries with problems may hold values for which ``is_valid`` is false.
    """
    root = _compose(text)
    if root is None:
        raise GovernanceError([Problem(1, "the file is empty: it needs at least `version: 1`.")])
    reader = _Reader()
    spec = Spec()
    top = reader.mapping(root, "the file", ("version",), ("domains", "dataset_budgets", "policies"))
    if top is not None:
        if "version" in top and reader.scalar(top["version"], "version") not in (FORMAT_VERSION, _INVALID):
            reader.error(top["version"], f"version must be {FORMAT_VERSION}.")
        sections: tuple[tuple[str, list[Any], Callable[[_Reader, yaml.Node], Any]], ...] = (
            ("domains", spec.domains, _read_domain),
            ("dataset_budgets", spec.budgets, _read_budget),
            ("policies", spec.policies, _read_policy),
        )
        for key, entries, read in sections:
            items = [read(reader, node) for node in reader.sequence(top.get(key, _EMPTY), key)]
            entries.extend(item for item in items if item)
    _check_duplicates(reader, spec)
    return spec, reader.problems


def parse_governance(text: str) -> Spec:
    """The file's contents, or ``GovernanceError`` with every problem found. Reads no database."""
    spec, problems = read_governance(text)
    if problems:
        raise GovernanceError(problems)
    return spec
