"""The audit trail: exactly one row per action (with actor, object, outcome and request id), refusals
included; rows that cannot be changed; admins browse and export it, owners see their domains' rows."""

import csv
import io
import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.catalog.models import Dataset
from apps.privacy.models import Policy
from apps.queries.models import QueryJob
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record
from tests.conftest import PASSWORD, client_for
from tests.queries.census_backend import census_database, load_census

pytestmark = pytest.mark.django_db


def rows_of(request_id: str) -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.filter(request_id=request_id).order_by("id").values_list(
        "action", "outcome", "object_repr"))


def rid(name: str) -> dict[str, str]:
    return {"HTTP_X_REQUEST_ID": f"test-{name}"}


# --- logins --------------------------------------------------------------------------------------


def test_a_login_and_a_failed_login_leave_one_row_each(bob):
    client = Client()
    client.post("/accounts/login/", {"username": "bob", "password": "wrong"}, **rid("fail"))
    client.post("/accounts/login/", {"username": "bob", "password": PASSWORD}, **rid("login"))

    assert rows_of("test-fail") == [("auth.login_failed", "denied", "bob")]
    assert rows_of("test-login") == [("auth.login", "success", "bob")]
    assert AuditEvent.objects.get(request_id="test-login").actor == bob


def test_a_refused_token_request_leaves_one_row(bob):
    response = Client().post("/api/v1/auth/token/", {"username": "bob", "password": "wrong"},
                             content_type="application/json", **rid("token"))

    assert response.status_code == 400
    assert [(a, o) for a, o, _ in rows_of("test-token")] == [("auth.token", "denied")]


# --- reads ---------------------------------------------------------------------------------------


@pytest.fixture
def adult(hr) -> Dataset:
    from tests.factories import DatasetFactory

    return DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")


def test_a_dataset_page_a_dataset_api_read_and_a_search_leave_one_row_each(bob, adult):
    client = client_for(bob)
    page = client.get("/datasets/hr.census.adult/", **rid("page"))
    api = client.get("/api/v1/datasets/hr.census.adult/", **rid("api"))
    client.get("/api/v1/datasets/hr.census.adult/columns/", **rid("columns"))
    client.get("/search/", {"q": "adult"}, **rid("search"))

    assert page.status_code == api.status_code == 200 and page["X-Request-ID"] == "test-page"
    assert rows_of("test-page") == [("dataset.view", "success", "hr.census.adult")]
    assert rows_of("test-api") == [("dataset.api_read", "success", "hr.census.adult")]
    assert rows_of("test-columns") == [("dataset.api_read", "success", "hr.census.adult")]
    assert rows_of("test-search") == [("catalog.search", "success", "adult")]
    viewed = AuditEvent.objects.get(request_id="test-page")
    assert (viewed.actor, viewed.dataset_id, viewed.domain_id) == (bob, adult.pk, adult.domain_id)


def test_charlie_probing_a_hidden_dataset_leaves_one_denied_row_its_owner_can_see(alice, charlie, adult):
    assert client_for(charlie).get("/datasets/hr.census.adult/", **rid("probe")).status_code == 404
    assert client_for(charlie).get("/api/v1/datasets/hr.census.adult/", **rid("probe-api")).status_code == 404
    assert client_for(charlie).get("/datasets/hr.db.nothing/", **rid("missing")).status_code == 404

    assert rows_of("test-probe") == [("dataset.view", "denied", "hr.census.adult")]
    assert rows_of("test-probe-api") == [("dataset.api_read", "denied", "hr.census.adult")]
    assert rows_of("test-missing") == [("dataset.view", "denied", "hr.db.nothing")]
    seen_by_alice = client_for(alice).get("/api/v1/audit/", {"actor": "charlie"}).json()["results"]
    assert [row["request_id"] for row in seen_by_alice] == ["test-probe-api", "test-probe"]


# --- refusals and denials ------------------------------------------------------------------------


def test_a_refused_api_call_leaves_one_refusal_row(bob):
    response = client_for(bob).get("/api/v1/search/", {"limit": 0}, **rid("refused"))

    assert response.status_code == 400
    assert rows_of("test-refused") == [("request.refuse", "refused", "api-search")]


def test_a_denied_policy_change_leaves_one_denial_row_and_changes_nothing(alice, bob, adult):
    body = {"user": "bob", "scope": {"dataset": "hr.census.adult"}, "epsilon_budget": 100}
    response = client_for(bob).post("/api/v1/policies/", json.dumps(body), content_type="application/json",
                                    **rid("deny"))

    assert response.status_code == 403
    assert not Policy.objects.exists()
    action, outcome, _ = rows_of("test-deny")[0]
    assert len(rows_of("test-deny")) == 1 and (action, outcome) == ("request.deny", "denied")


def test_a_policy_change_leaves_one_row_in_its_transaction(alice, bob, adult):
    body = {"user": "bob", "scope": {"dataset": "hr.census.adult"}, "epsilon_budget": 1, "delta_budget": "0.00001"}
    response = client_for(alice).post("/api/v1/policies/", json.dumps(body), content_type="application/json",
                                      **rid("policy"))

    assert response.status_code == 201, response.content
    assert [(a, o) for a, o, _ in rows_of("test-policy")] == [("policy.create", "success")]
    assert AuditEvent.objects.get(request_id="test-policy").domain_id == adult.domain_id


def test_a_page_refusal_leaves_one_denial_row(bob, adult):
    response = client_for(bob).post("/datasets/hr.census.adult/edit/", {"description": "bob was here"},
                                    **rid("edit"))

    assert response.status_code == 403
    assert [(a, o) for a, o, _ in rows_of("test-edit")] == [("request.deny", "denied")]


def test_a_row_written_in_a_transaction_that_rolls_back_is_gone_with_it(alice, adult):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=alice, action="dataset.update", obj=adult, request_id="rolled-back")
        raise RuntimeError("the change failed")

    assert not AuditEvent.objects.filter(request_id="rolled-back").exists()


# --- queries and downloads (a real PostgreSQL backend) -------------------------------------------


@pytest.fixture(scope="module")
def census_url(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return census_database()


@pytest.fixture
def census_adult(hr, alice, bob, census_url) -> Dataset:
    from apps.privacy.services import policy_save

    dataset = load_census(domain=hr, owner=alice, url=census_url)["adult"]
    policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="3", delta_budget="0.00001")
    return dataset


def submit(client: Client, sql: str, name: str):
    body = {"dataset": "hr.census.adult", "sql": sql, "mechanism": "laplace", "epsilon": "0.5"}
    return client.post("/api/v1/queries/", json.dumps(body), content_type="application/json", **rid(name))


def test_a_query_submission_a_refused_query_and_a_download_leave_one_row_each(bob, census_adult):
    client = client_for(bob)
    accepted = submit(client, "SELECT sex, COUNT(*) FROM adult GROUP BY sex", "submit")
    refused = submit(client, "SELECT * FROM adult", "refuse")
    job = QueryJob.objects.get(pk=accepted.json()["id"])
    QueryJob.objects.filter(pk=job.pk).update(
        status=QueryJob.Status.SUCCEEDED, result={"columns": ["sex", "count"], "rows": [["=1+1", 3]]}
    )
    download = client.get(f"/api/v1/queries/{job.pk}/result.csv", **rid("download"))

    assert accepted.status_code == 201 and refused.status_code == 400 and download.status_code == 200
    # the accountant's reservation is an action of its own, with its own row
    assert [a for a, _, _ in rows_of("test-submit")] == ["budget.reserve", "query.submit"]
    assert [(a, o) for a, o, _ in rows_of("test-refuse")] == [("query.refuse", "refused")]
    assert [(a, o) for a, o, _ in rows_of("test-download")] == [("query.download", "success")]
    assert AuditEvent.objects.get(request_id="test-submit", action="query.submit").dataset_id == census_adult.pk


# --- append-only ---------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize("statement", [
    "UPDATE usage_auditevent SET outcome = 'success'",
    "UPDATE usage_auditevent SET action = 'nothing' WHERE id = %s",
    "DELETE FROM usage_auditevent WHERE id = %s",
    "DELETE FROM usage_auditevent",
])
def test_the_application_role_can_neither_update_nor_delete_audit_rows(alice, statement):
    row = audit_record(actor=alice, action="auth.login", obj=alice, outcome="denied")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [row.pk] if "%s" in statement else None)

    kept = AuditEvent.objects.get(pk=row.pk)
    assert (kept.outcome, kept.action) == ("denied", "auth.login")


# --- browsing, filtering, exporting --------------------------------------------------------------


@pytest.fixture
def trail(alice, bob, charlie, admin_user, adult):
    from tests.factories import DatasetFactory, DomainFactory

    sales = DatasetFactory(domain=DomainFactory(slug="sales"), table_name="orders", address="sales.db.orders")
    audit_record(actor=bob, action="dataset.view", obj=adult, request_id="r1")
    audit_record(actor=bob, action="query.refuse", obj=adult, outcome="refused", request_id="r2",
                 details={"reason": "=HYPERLINK(\"http://evil\")"})
    audit_record(actor=charlie, action="dataset.view", obj=sales, request_id="r3")
    audit_record(actor=admin_user, action="@SUM(1)", obj=sales, request_id="r4")


def test_admins_filter_the_trail_by_actor_action_outcome_object_and_dates(admin_user, trail):
    client = client_for(admin_user)

    def ids(**params) -> list[str]:
        return [row["request_id"] for row in client.get("/api/v1/audit/", params).json()["results"]]

    assert ids(actor="bob") == ["r2", "r1"]
    assert ids(action="query") == ["r2"] and ids(action="dataset.view") == ["r3", "r1"]
    assert ids(outcome="refused") == ["r2"]
    assert ids(object="sales.db") == ["r4", "r3"]
    assert ids(since="2000-01-01", until="2000-01-02") == []
    assert "r1" in ids(since="2000-01-01") and ids(action="@SUM(1)", outcome="nonsense", before="x") == ["r4"]
    page = client.get("/usage/audit/", {"actor": "bob"}).content.decode()
    assert "query.refuse" in page and "sales.db.orders" not in page


def test_the_csv_export_escapes_formulas(admin_user, trail):
    response = client_for(admin_user).get("/usage/audit/export.csv")

    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "occurred_at", "actor", "action"]
    assert [r[3] for r in rows[1:] if "SUM" in r[3]] == ["'@SUM(1)"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_owners_see_only_the_rows_about_their_domains(alice, trail):
    rows = client_for(alice).get("/api/v1/audit/").json()["results"]
    exported = b"".join(client_for(alice).get("/usage/audit/export.csv").streaming_content).decode()

    assert {row["request_id"] for row in rows} == {"r1", "r2"}
    assert "sales.db.orders" not in exported and "hr.census.adult" in exported
