"""Fuzz the REST API from its own OpenAPI schema (schemathesis), as bob with a token, on the small
mesh of ``world.py``. Every operation gets a few generated requests (a fixed seed: the same ones on
every run), each sent twice when its path names objects: once as generated, once with the ids of
real objects bob may see, so bodies and query strings are fuzzed against data that exists. Then a
few valid requests an analyst makes (reserve and release, submit and cancel a query, a zCDP query, a
synthetic-data job) move the ledger, and their success answers are checked against the schema too.

Checks: no server error; each answer matches its documented schema and content type. Afterwards the
ledger agrees with every budget account, nothing is negative or over its limit, every ledger entry
has its one audit row, and every refusal its one audit row."""

import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.privacy.accountant import DATASET_WIDE
from apps.privacy.models import BudgetAccount, LedgerEntry
from apps.usage.models import AuditEvent
from tests.security.world import World

pytestmark = pytest.mark.django_db

EXAMPLES = 2  # generated requests per operation (each sent twice when its path names objects)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
ZERO = Decimal(0)


def _real_path_parameters(path: str, world: World) -> dict[str, object]:
    """Ids of objects bob may see, by parameter name (and, for ``pk``, by the collection)."""
    hr = world.hr
    by_collection = {
        "/api/v1/queries/": hr.job.pk,
        "/api/v1/policies/": hr.policy.pk,
        "/api/v1/access-requests/": hr.access_request.pk,
        "/api/v1/backends/": hr.backend.pk,
        "/api/v1/harvest-runs/": hr.harvest_run.pk,
        "/api/v1/reservations/": hr.reservation.pk,
    }
    pk = next((value for prefix, value in by_collection.items() if path.startswith(prefix)), None)
    known = {
        "address": hr.dataset.address,
        "slug": hr.domain.slug,
        "domain": hr.domain.slug,
        "product": hr.product.slug,
        "name": hr.column.name,
        "username": "bob",
        "pk": pk,
        "id": pk,
        "job_id": pk,
    }
    return {name: value for name, value in known.items() if f"{{{name}}}" in path and value is not None}


def _summary(exc: BaseException) -> str:
    """The failure's kind, where in the schema and what was wrong, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    keep = [line for line in lines if line.startswith(("- ST", "Schema at", "Validated against"))]
    detail = next((lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("- ST")), "")
    return " | ".join(keep + ([detail] if detail else [])) or (lines[0] if lines else repr(exc))


def _ledger_problems() -> list[str]:
    problems = []
    for account in BudgetAccount.objects.select_related("dataset", "user"):
        entries = LedgerEntry.objects.filter(dataset=account.dataset)
        if account.user_id is not None:
            entries = entries.filter(user=account.user).exclude(reference__startswith=DATASET_WIDE)
        sums = defaultdict(lambda: ZERO)
        for kind, epsilon, delta, rho in entries.values_list("kind", "epsilon", "delta", "rho"):
            sums[kind, "epsilon"] += epsilon
            sums[kind, "delta"] += delta
            sums[kind, "rho"] += rho
        name = f"{account.user or 'all users'} on {account.dataset.address}"
        for amount in ("epsilon", "delta", "rho"):
            spent = sums["commit", amount]
            reserved = sums["reserve", amount] - spent - sums["release", amount]
            if getattr(account, f"spent_{amount}") != spent or getattr(account, f"reserved_{amount}") != reserved:
                problems.append(f"{name}: {amount} totals differ from the ledger ({spent} spent, {reserved} reserved)")
            if getattr(account, f"spent_{amount}") < 0 or getattr(account, f"reserved_{amount}") < 0:
                problems.append(f"{name}: negative {amount}")
        if account.epsilon_total > account.epsilon_limit or account.delta_total > account.delta_limit:
            problems.append(f"{name}: over its limit (nothing remaining below zero is allowed)")
    return problems


def _audit_problems(refusals: list[tuple[str, str, int]]) -> list[str]:
    problems = []
    for entry in LedgerEntry.objects.all():
        reservation = entry.pk if entry.kind == LedgerEntry.Kind.RESERVE else entry.reservation_id
        rows = AuditEvent.objects.filter(action=f"budget.{entry.kind}", details__reservation=reservation).count()
        if rows != 1:
            problems.append(f"ledger {entry.kind} {entry.pk}: {rows} audit rows, expected 1")
    for label, request_id, status in refusals:
        rows = AuditEvent.objects.filter(
            request_id=request_id, outcome__in=[AuditEvent.Outcome.REFUSED, AuditEvent.Outcome.DENIED]
        ).count()
        if rows != 1:
            problems.append(f"{label} refused with {status}: {rows} audit rows, expected 1")
    return problems


@pytest.fixture
def wsgi_in_the_test_transaction() -> Iterator[object]:
    """The WSGI application, minus the signal that closes the database connection after each request
    (Django's test client does the same): requests then see, and write into, the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_survives_its_own_schema_and_the_ledger_and_audit_trail_still_hold(
    world: World, wsgi_in_the_test_transaction: object
) -> None:
    token = Token.objects.create(user=world.users["bob"]).key
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_in_the_test_transaction)
    failures: list[str] = []
    refusals: list[tuple[str, str, int]] = []
    calls = 0

    def send(case: schemathesis.Case, label: str) -> dict:
        nonlocal calls
        calls += 1
        request_id = uuid.uuid4().hex
        headers = {"Authorization": f"Token {token}", "X-Request-ID": request_id}
        with transaction.atomic():
            response = case.call(headers=headers)
            if response.status_code >= 500:
                transaction.set_rollback(True)  # keep the test's transaction usable to report the rest
        if 400 <= response.status_code < 500 and response.status_code not in (401, 404, 405):
            refusals.append((label, request_id, response.status_code))
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group of check failures
            failures.append(f"{label}: {response.status_code} {_summary(exc)}")
        try:
            answer = response.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {"results": answer}

    def fuzzer(operation: object) -> object:
        label = f"{operation.method.upper()} {operation.path}"
        real = _real_path_parameters(operation.path, world)

        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            send(case, f"{label} {case.path_parameters or ''}")
            if real:
                case.path_parameters = {**(case.path_parameters or {}), **real}
                send(case, f"{label} {case.path_parameters}")

        return fuzz

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        try:
            fuzzer(operation)()
        except (Exception, BaseExceptionGroup) as exc:  # a failure reported when the run ends
            failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")

    # Then what an analyst really does, so the ledger moves and the success answers are checked too.
    ledger_before = LedgerEntry.objects.count()
    address = world.hr.dataset.address
    count = {"dataset": address, "sql": "SELECT COUNT(*) FROM adult", "mechanism": "laplace", "epsilon": "0.05"}

    answers: dict[str, dict] = {}

    def remember(name: str, method: str, path: str, body: object = None, **path_parameters: object) -> None:
        case = schema[path][method].Case(path_parameters=path_parameters, **({} if body is None else {"body": body}))
        answers[name] = send(case, f"{method} {path} (a valid request)")

    remember("reservation", "POST", "/api/v1/reservations/", {"dataset": address, "mechanism": "laplace",
             "epsilon": "0.05", "reference": "fuzz"})  # fmt: skip
    remember("released", "POST", "/api/v1/reservations/{id}/release/", id=answers["reservation"].get("id"))
    remember("query", "POST", "/api/v1/queries/", count)
    remember("cancelled", "POST", "/api/v1/queries/{id}/cancel/", id=answers["query"].get("id"))
    remember("gaussian", "POST", "/api/v1/queries/", {"dataset": address, "sql": "SELECT COUNT(*) FROM adult",
             "mechanism": "gaussian", "rho": "0.01"})  # fmt: skip
    remember("synth", "POST", "/api/v1/synth/jobs/", {"dataset": address, "synthesizer": "mst",
             "columns": ["age", "sex"], "epsilon": "0.3", "rows": 10})  # fmt: skip
    remember("preview", "POST", "/api/v1/queries/preview/", count)
    remember("cost", "POST", "/api/v1/cost-preview/", {"dataset": address, "mechanism": "gaussian", "rho": "0.01"})
    for path in ("/api/v1/budgets/", "/api/v1/reservations/", "/api/v1/queries/", "/api/v1/synth/jobs/"):
        remember(path, "GET", path)

    assert len(operations) >= 40 and calls >= len(operations) * 2
    assert LedgerEntry.objects.count() == ledger_before + 6, "the valid requests reserve, release and cancel"
    distinct = sorted(set(failures))
    assert not distinct, f"{len(failures)} of {calls} calls failed:\n" + "\n".join(distinct)
    assert _ledger_problems() == []
    assert _audit_problems(refusals) == []
