"""POST /api/v1/lineage: OpenLineage RunEvents in, lineage and audit rows out."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Backend, Domain
from apps.lineage.models import ColumnEdge, Edge, LineageNode, RunEvent
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.factories import BackendFactory, DatasetFactory, DomainFactory, GroupFactory, UserFactory

URL = "/api/v1/lineage"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/blob/v1-0-0/client"

# The two events of the spec's "getting started" (a START with an input, a COMPLETE with an output
# and its schema facet), as published with the spec.
SPEC_START = {
    "eventType": "START",
    "eventTime": "2020-12-28T19:52:00.001+10:00",
    "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f"},
    "job": {"namespace": "my-namespace", "name": "myjob.mytask"},
    "inputs": [{"namespace": "my-namespace", "name": "my-input"}],
    "producer": PRODUCER,
    "schemaURL": "https://openlineage.io/spec/1-0-5/OpenLineage.json#/definitions/RunEvent",
}
SPEC_COMPLETE = {
    "eventType": "COMPLETE",
    "eventTime": "2020-12-28T20:52:00.001+10:00",
    "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f"},
    "job": {"namespace": "my-namespace", "name": "myjob.mytask"},
    "outputs": [{
        "namespace": "my-namespace",
        "name": "my-output",
        "facets": {
            "schema": {
                "_producer": PRODUCER,
                "_schemaURL": "https://github.com/OpenLineage/OpenLineage/blob/v1-0-0/spec/OpenLineage.json"
                              "#/definitions/SchemaDatasetFacet",
                "fields": [{"name": "a", "type": "VARCHAR"}, {"name": "b", "type": "VARCHAR"}],
            }
        },
    }],
    "producer": PRODUCER,
    "schemaURL": "https://openlineage.io/spec/1-0-5/OpenLineage.json#/definitions/RunEvent",
}
# The spec's column-lineage facet (ColumnLineageDatasetFacet 1-2-0: transformations per input field).
SPEC_COLUMN_LINEAGE = {
    "_producer": PRODUCER,
    "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
                  "#/$defs/ColumnLineageDatasetFacet",
    "fields": {
        "a": {"inputFields": [{"namespace": "my-namespace", "name": "my-input", "field": "a",
                               "transformations": [{"type": "DIRECT", "subtype": "IDENTITY", "description": "",
                                                    "masking": False}]}]},
        "b": {"inputFields": [{"namespace": "my-namespace", "name": "my-input", "field": "b"}],
              "transformationDescription": "identical", "transformationType": "IDENTITY"},
    },
}


def post(client: Client, body: Any, path: str = URL) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, raw, content_type="application/json")


def event(inputs: list[str], outputs: list[str], *, event_type: str | None = "COMPLETE", run_id: str | None = None,
          event_time: str = "2025-06-01T10:00:00Z", namespace: str = "portal") -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventTime": event_time,
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": "jobs", "name": "nightly"},
        "inputs": [{"namespace": namespace, "name": name} for name in inputs],
        "outputs": [{"namespace": namespace, "name": name} for name in outputs],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }
    if event_type:
        body["eventType"] = event_type
    return body


@pytest.fixture
def adult(hr: Domain) -> Dataset:
    return DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")


@pytest.fixture
def salaries(hr: Domain) -> Dataset:
    return DatasetFactory(domain=hr, table_name="salaries", address="hr.census.salaries")


def counts() -> tuple[int, ...]:
    return (RunEvent.objects.count(), LineageNode.objects.count(), Edge.objects.count(), ColumnEdge.objects.count(),
            Dataset.objects.count())


def test_the_spec_s_start_and_complete_examples_are_accepted(admin_user: User) -> None:
    client = client_for(admin_user)
    datasets = Dataset.objects.count()

    start = post(client, SPEC_START)
    complete = post(client, SPEC_COMPLETE)

    assert (start.status_code, complete.status_code) == (201, 201)
    assert start.json()["inputs"] == [{"namespace": "my-namespace", "name": "my-input", "dataset": None}]
    assert sorted(RunEvent.objects.values_list("event_type", flat=True)) == ["COMPLETE", "START"]
    placeholders = sorted(str(node) for node in LineageNode.objects.all())
    assert placeholders == ["my-namespace/my-input", "my-namespace/my-output"]
    assert Dataset.objects.count() == datasets  # placeholders are not catalog datasets
    stored = RunEvent.objects.get(event_type="COMPLETE").payload
    assert stored["outputs"][0]["facets"]["schema"]["fields"][0] == {"name": "a", "type": "VARCHAR"}


def test_the_spec_s_column_lineage_facet_is_stored_as_column_edges(admin_user: User) -> None:
    body = copy.deepcopy(SPEC_COMPLETE)
    body["inputs"] = SPEC_START["inputs"]
    body["outputs"][0]["facets"]["columnLineage"] = SPEC_COLUMN_LINEAGE

    assert post(client_for(admin_user), body).status_code == 201

    rows = {(e.source_field, e.target_field, e.transformation) for e in ColumnEdge.objects.all()}
    assert rows == {("a", "a", "DIRECT IDENTITY"), ("b", "b", "identical")}
    assert [str(edge) for edge in Edge.objects.all()] == ["my-namespace/my-input -> my-namespace/my-output"]


def test_an_event_without_event_type_inputs_or_outputs_is_accepted_from_an_admin(admin_user: User) -> None:
    body = {key: SPEC_START[key] for key in ("eventTime", "run", "job", "producer", "schemaURL")}
    response = post(client_for(admin_user), body)
    assert response.status_code == 201
    assert response.json()["event_type"] == ""


@pytest.mark.parametrize("path", ["eventTime", "producer", "schemaURL", "run.runId", "job.namespace", "job.name"])
def test_a_missing_required_field_is_refused_by_name_and_audited(admin_user: User, path: str) -> None:
    body = copy.deepcopy(SPEC_START)
    *parents, leaf = path.split(".")
    holder = body
    for part in parents:
        holder = holder[part]
    del holder[leaf]

    response = post(client_for(admin_user), body)

    assert response.status_code == 400
    assert path in response.json()["fields"]
    assert path in response.json()["message"]
    assert counts()[:4] == (0, 0, 0, 0)
    audit = AuditEvent.objects.get(outcome__in=["refused", "denied"])  # exactly one row for the refusal
    assert (audit.action, audit.outcome, audit.actor, audit.details["fields"]) == (
        "lineage.ingest", "refused", admin_user, [path])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"run": {"runId": "not-a-uuid"}}, "run.runId"),
        ({"run": {"runId": 42}}, "run.runId"),
        ({"run": "0176a8c2-fe01-7439-87e6-56a1a1b4029f"}, "run"),
        ({"eventType": "DONE"}, "eventType"),
        ({"eventType": ["START"]}, "eventType"),
        ({"eventTime": "yesterday"}, "eventTime"),
        ({"eventTime": 1_700_000_000}, "eventTime"),
        ({"producer": ""}, "producer"),
        ({"job": {"namespace": "n", "name": {"deep": "x"}}}, "job.name"),
        ({"job": None}, "job"),
        ({"inputs": "my-input"}, "inputs"),
        ({"inputs": [{"namespace": "n"}]}, "inputs[0].name"),
        ({"inputs": [7]}, "inputs[0]"),
        ({"outputs": [{"namespace": "n", "name": "x", "facets": []}]}, "outputs[0].facets"),
        ({"outputs": [{"namespace": "n", "name": "x", "facets": {"columnLineage": {"fields": []}}}]},
         "outputs[0].facets.columnLineage.fields"),
        ({"job": {"namespace": "n", "name": "x" * 301}}, "job.name"),
    ],
)
def test_wrong_types_and_values_are_refused_by_name(admin_user: User, change: dict, field: str) -> None:
    response = post(client_for(admin_user), {**SPEC_START, **change})
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert RunEvent.objects.count() == 0


def test_replaying_an_event_creates_nothing_new(alice: User, adult: Dataset, salaries: Dataset) -> None:
    client = client_for(alice)
    body = event(["hr.census.adult", "elsewhere.raw"], ["hr.census.salaries"])
    body["outputs"][0]["facets"] = {"columnLineage": {"fields": {
        "salary": {"inputFields": [{"namespace": "portal", "name": "hr.census.adult", "field": "income"}]}}}}

    first = post(client, body)
    before = counts()
    replay = post(client, body)
    also_with_slash = post(client, body, path=URL + "/")

    assert (first.status_code, replay.status_code, also_with_slash.status_code) == (201, 200, 200)
    assert (first.json()["created"], replay.json()["created"]) == (True, False)
    assert counts() == before == (1, 3, 2, 1, Dataset.objects.count())
    ingests = AuditEvent.objects.filter(action="lineage.ingest").order_by("id")
    assert list(ingests.values_list("outcome", "details__replay")) == [
        ("success", False), ("success", True), ("success", True)]


def test_the_same_run_with_another_event_type_is_a_new_event(alice: User, adult: Dataset, salaries: Dataset) -> None:
    run_id = str(uuid.uuid4())
    client = client_for(alice)
    start = event(["hr.census.adult"], ["hr.census.salaries"], event_type="START", run_id=run_id)
    assert post(client, start).status_code == 201
    assert post(client, event(["hr.census.adult"], ["hr.census.salaries"], run_id=run_id)).status_code == 201
    assert RunEvent.objects.filter(run_id=run_id).count() == 2
    assert Edge.objects.count() == 1


def test_another_owner_who_posts_a_run_id_first_does_not_turn_alice_s_event_into_a_replay(
    alice: User, adult: Dataset, salaries: Dataset
) -> None:
    dave = UserFactory(username="dave")
    sales = DomainFactory(slug="sales", name="Sales")
    sales.owners.add(dave)
    DatasetFactory(domain=sales, table_name="orders", address="sales.shop.orders")
    run_id = str(uuid.uuid4())
    squatted = event([], ["sales.shop.orders"], run_id=run_id)
    squatted["job"] = {"namespace": "dave-secret", "name": "acquisition_target_scoring"}
    assert post(client_for(dave), squatted).status_code == 201

    response = post(client_for(alice), event(["hr.census.adult"], ["hr.census.salaries"], run_id=run_id))

    assert response.status_code == 201
    assert response.json()["created"] is True
    assert response.json()["job"] == "jobs/nightly"
    assert "dave-secret" not in response.content.decode() and "acquisition" not in response.content.decode()
    assert RunEvent.objects.filter(run_id=run_id).count() == 2
    assert Edge.objects.filter(target__dataset=salaries, source__dataset=adult).exists()
    salaries.refresh_from_db()
    assert salaries.data_updated_at is not None


def test_a_replay_answers_with_the_poster_s_own_event_only(alice: User, adult: Dataset, salaries: Dataset) -> None:
    run_id = str(uuid.uuid4())
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    theirs = event([], ["hr.census.salaries"], run_id=run_id)
    theirs["job"] = {"namespace": "admin-only", "name": "payroll_reconciliation"}
    assert post(client_for(admin), theirs).status_code == 201
    mine = event(["hr.census.adult"], ["hr.census.salaries"], run_id=run_id)
    assert post(client_for(alice), mine).status_code == 201

    replay = post(client_for(alice), mine)

    assert (replay.status_code, replay.json()["created"], replay.json()["job"]) == (200, False, "jobs/nightly")
    assert "payroll" not in replay.content.decode()
    assert RunEvent.objects.filter(run_id=run_id).count() == 2
    audit = AuditEvent.objects.filter(action="lineage.ingest", actor=alice).order_by("id").last()
    assert audit.details["replay"] is True and audit.details["job"] == "jobs/nightly"


def test_an_owner_records_lineage_into_her_domain_and_inputs_are_matched_by_address(
    alice: User, adult: Dataset, salaries: Dataset
) -> None:
    response = post(client_for(alice), event(["hr.census.adult", "s3://bucket/raw.csv"], ["hr.census.salaries"]))

    assert response.status_code == 201
    assert response.json()["inputs"] == [
        {"namespace": "portal", "name": "hr.census.adult", "dataset": "hr.census.adult"},
        {"namespace": "portal", "name": "s3://bucket/raw.csv", "dataset": None},
    ]
    assert response.json()["outputs"][0]["dataset"] == "hr.census.salaries"
    edges = {(str(e.source), str(e.target), str(e.job)) for e in Edge.objects.select_related("source", "target", "job")}
    assert edges == {("hr.census.adult", "hr.census.salaries", "jobs/nightly"),
                     ("portal/s3://bucket/raw.csv", "hr.census.salaries", "jobs/nightly")}
    assert LineageNode.objects.get(dataset=adult).namespace == ""


def test_a_complete_event_moves_the_output_s_data_updated_at_forward_only(
    alice: User, adult: Dataset, salaries: Dataset
) -> None:
    client = client_for(alice)
    post(client, event(["hr.census.adult"], ["hr.census.salaries"], event_type="START",
                       event_time="2025-06-01T10:00:00+02:00"))
    salaries.refresh_from_db()
    assert salaries.data_updated_at is None  # only COMPLETE says the data changed

    post(client, event(["hr.census.adult"], ["hr.census.salaries"], event_time="2025-06-01T10:00:00+02:00"))
    post(client, event(["hr.census.adult"], ["hr.census.salaries"], event_time="2025-05-01T10:00:00+02:00"))
    salaries.refresh_from_db()
    adult.refresh_from_db()
    assert salaries.data_updated_at == datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    assert adult.data_updated_at is None  # an input is not changed by being read

    post(client, event(["hr.census.adult"], ["hr.census.salaries"], event_time="2999-01-01T00:00:00Z"))
    salaries.refresh_from_db()
    assert salaries.data_updated_at <= datetime.now(tz=UTC) + timedelta(seconds=1)


def test_datasets_are_matched_by_their_backend_address(admin_user: User, tmp_path: Any) -> None:
    warehouse = DomainFactory(slug="finance")
    pg = BackendFactory(domain=warehouse, slug="dwh", kind=Backend.Kind.POSTGRESQL,
                        url="postgresql+psycopg://reader@DB.Example.org/warehouse")
    ledger = DatasetFactory(domain=warehouse, backend=pg, table_schema="public", table_name="ledger",
                            address="finance.dwh.ledger")
    audit = DatasetFactory(domain=warehouse, backend=pg, table_schema="audit", table_name="ledger",
                           address="finance.dwh.audit.ledger")
    lite = BackendFactory(domain=warehouse, slug="lite", kind=Backend.Kind.SQLITE, url=str(tmp_path / "f.sqlite3"))
    budget = DatasetFactory(domain=warehouse, backend=lite, table_schema="main", table_name="budget",
                            address="finance.lite.budget")
    body = {
        **event([], []),
        "inputs": [
            {"namespace": "postgres://db.example.org:5432", "name": "warehouse.public.ledger"},
            {"namespace": "postgres://db.example.org:5432/", "name": "audit.ledger"},
            {"namespace": "postgres://db.example.org:5432", "name": "otherdb.public.ledger"},
        ],
        "outputs": [{"namespace": f"sqlite://{tmp_path / 'f.sqlite3'}", "name": "budget"}],
    }

    response = post(client_for(admin_user), body)

    assert [m["dataset"] for m in response.json()["inputs"]] == [ledger.address, audit.address, None]
    assert response.json()["outputs"][0]["dataset"] == budget.address


@pytest.fixture
def bob_token(bob: User) -> str:
    return Token.objects.create(user=bob).key


def test_an_analyst_who_may_see_but_not_edit_the_output_gets_403(bob: User, bob_token: str, adult: Dataset) -> None:
    response = Client().post(URL, json.dumps(event([], ["hr.census.adult"])), content_type="application/json",
                             HTTP_AUTHORIZATION=f"Token {bob_token}")
    assert response.status_code == 403
    assert response.json()["fields"] == {"outputs[0]": [response.json()["message"]]}
    assert RunEvent.objects.count() == 0
    assert AuditEvent.objects.get(outcome__in=["refused", "denied"]).action == "lineage.ingest"


def test_charlie_gets_404_for_an_output_in_a_domain_he_cannot_see_like_for_an_unknown_one(
    charlie: User, adult: Dataset
) -> None:
    client = client_for(charlie)
    hidden = post(client, event([], ["hr.census.adult"]))
    unknown = post(client, event([], ["hr.census.nothing"]))
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json() == unknown.json()
    assert "hr.census.adult" not in hidden.content.decode()
    assert RunEvent.objects.count() == 0
    assert list(AuditEvent.objects.filter(action="lineage.ingest").values_list("outcome", flat=True)) == [
        "denied", "denied"]


def test_an_owner_cannot_record_external_outputs_nor_events_without_outputs(alice: User, adult: Dataset) -> None:
    client = client_for(alice)
    assert post(client, event(["hr.census.adult"], ["s3://bucket/out"])).status_code == 404
    assert post(client, event(["hr.census.adult"], [])).status_code == 403
    assert LineageNode.objects.count() == 0


def test_anonymous_posts_get_401(db: None) -> None:
    response = post(Client(), SPEC_START)
    assert response.status_code == 401
    assert RunEvent.objects.count() == 0


def test_other_methods_are_not_allowed(admin_user: User) -> None:
    assert client_for(admin_user).get(URL).status_code == 405


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("[" * 100_000 + "]" * 100_000, 400),
        ('{"a":' * 40 + "1" + "}" * 40, 400),
        ("[]", 400),
        ('"an event"', 400),
        ("null", 400),
        ("{not json", 400),
        (b"\xff\xfe{}", 400),
        ('{"eventTime": NaN}', 400),
        ("1" + "0" * 5000, 400),
    ],
)
def test_hostile_bodies_get_a_4xx_never_a_500(admin_user: User, raw: Any, status: int) -> None:
    response = post(client_for(admin_user), raw)
    assert response.status_code == status
    assert "message" in response.json()
    assert AuditEvent.objects.get(outcome__in=["refused", "denied"]).action == "lineage.ingest"


@pytest.mark.parametrize(
    "change",
    [
        {"job": {"namespace": "n", "name": "nul\u0000byte"}},
        {"job": {"namespace": "n", "name": "lone \ud800 surrogate"}},
        {"run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {"x\u0000": 1}}},
        {"run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {"big": 1e999}}},
        {"inputs": [{"namespace": "n", "name": "i"}] * 201},
        {"inputs": [{"namespace": "n", "name": f"i{n}"} for n in range(60)],
         "outputs": [{"namespace": "n", "name": f"o{n}"} for n in range(60)]},
        {"eventTime": "0001-01-01T00:00:00+01:00"},
        {"eventTime": "9999-12-31T23:59:59-05:00"},
    ],
)
def test_what_the_database_cannot_store_is_refused_with_400(admin_user: User, change: dict) -> None:
    raw = json.dumps({**SPEC_START, **change})  # json.dumps escapes the NUL and the surrogate as \u0000, \ud800
    response = post(client_for(admin_user), raw)
    assert response.status_code == 400
    assert RunEvent.objects.count() == 0


def test_a_body_over_the_size_limit_gets_413(admin_user: User, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {**SPEC_START, "run": {"runId": SPEC_START["run"]["runId"], "facets": {"pad": "x" * 20_000}}}
    response = post(client_for(admin_user), body)
    assert response.status_code == 413
    assert AuditEvent.objects.get(action="lineage.ingest").outcome == "refused"


def test_odd_but_valid_unicode_names_are_kept_as_sent(admin_user: User) -> None:
    name = "ünïcødé \u202e.gnp 数据 🚀 e\u0301"
    body = {**SPEC_START, "inputs": [{"namespace": "ns", "name": name}]}
    response = post(client_for(admin_user), body)
    assert response.status_code == 201
    assert LineageNode.objects.get().name == name


def test_an_owner_cannot_link_a_dataset_she_may_not_see_and_learns_nothing_of_its_existence(
    adult: Dataset, hr: Domain
) -> None:
    marketing = DomainFactory(slug="marketing")
    marketing.visible_to_groups.add(GroupFactory(name="marketers"))
    dave = UserFactory(username="dave")
    marketing.owners.add(dave)
    DatasetFactory(domain=marketing, table_name="campaign", address="marketing.ads.campaign")
    client = client_for(dave)
    body = event(["hr.census.adult", "hr.census.nothing"], ["marketing.ads.campaign"])
    body["outputs"][0]["facets"] = {"columnLineage": {"fields": {"reach": {"inputFields": [
        {"namespace": "portal", "name": "hr.census.adult", "field": "income"}]}}}}

    response = post(client, body)

    assert response.status_code == 201
    # The HR dataset is treated like an unknown one: a placeholder of dave's event, never HR's own node.
    assert not LineageNode.objects.filter(dataset=adult).exists()
    assert not Edge.objects.filter(source__dataset=adult).exists()
    assert set(LineageNode.objects.filter(dataset__isnull=True).values_list("name", flat=True)) == {
        "hr.census.adult", "hr.census.nothing"}
