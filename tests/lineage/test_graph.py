"""GET /api/v1/lineage/graph/: the graph around a dataset, as the viewer may see it."""

from itertools import pairwise
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.catalog.models import Dataset, Tag
from apps.domains.models import Domain
from apps.lineage.models import ColumnEdge, Edge, Job, LineageNode
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.factories import ColumnFactory, DatasetFactory, DomainFactory

URL = "/api/v1/lineage/graph/"


def link(source: Dataset | LineageNode, target: Dataset | LineageNode, job: str = "jobs/nightly") -> Edge:
    def node(item: Dataset | LineageNode) -> LineageNode:
        return item if isinstance(item, LineageNode) else LineageNode.objects.get_or_create(dataset=item)[0]

    namespace, name = job.split("/")
    return Edge.objects.create(source=node(source), target=node(target),
                               job=Job.objects.get_or_create(namespace=namespace, name=name)[0])


@pytest.fixture
def sales(db: None) -> Domain:
    return DomainFactory(slug="sales", name="Sales")


@pytest.fixture
def chain(sales: Domain) -> list[Dataset]:
    """raw → orders → regional → report, all in the open sales domain."""
    names = ["raw", "orders", "regional", "report"]
    datasets = [DatasetFactory(domain=sales, table_name=name, address=f"sales.shop.{name}") for name in names]
    for source, target in pairwise(datasets):
        link(source, target)
    return datasets


def graph(client: Client, **params: Any) -> Any:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def addresses(body: dict) -> set[str]:
    return {node["address"] for node in body["nodes"]}


def test_a_graph_opens_at_one_hop_up_and_down(bob: User, chain: list[Dataset]) -> None:
    body = graph(client_for(bob), dataset="sales.shop.orders")
    assert addresses(body) == {"sales.shop.raw", "sales.shop.orders", "sales.shop.regional"}
    assert {(e["source"], e["target"]) for e in body["edges"]} == {
        (f"d{chain[0].pk}", f"d{chain[1].pk}"), (f"d{chain[1].pk}", f"d{chain[2].pk}")}
    assert body["center"] == f"d{chain[1].pk}"
    assert {n["address"]: (n["hop"], n["direction"]) for n in body["nodes"]}["sales.shop.raw"] == (1, "up")


def test_the_depth_control_reaches_further_and_zero_hops_stops(bob: User, chain: list[Dataset]) -> None:
    client = client_for(bob)
    assert "sales.shop.report" in addresses(graph(client, dataset="sales.shop.orders", down=2))
    assert addresses(graph(client, dataset="sales.shop.orders", up=0, down=0)) == {"sales.shop.orders"}


def test_a_dataset_in_a_domain_the_viewer_cannot_see_is_an_anonymous_hidden_node(
    charlie: User, hr: Domain, chain: list[Dataset]
) -> None:
    secret = DatasetFactory(domain=hr, table_name="salaries", address="hr.census.salaries")
    beyond = DatasetFactory(domain=hr, table_name="beyond", address="hr.census.beyond")
    link(chain[0], secret, job="hr/export_salaries")
    link(secret, beyond)

    response = client_for(charlie).get(URL, {"dataset": "sales.shop.raw", "down": 3})

    text = response.content.decode()
    hidden = [node for node in response.json()["nodes"] if node["kind"] == "hidden"]
    assert [(node["label"], node["address"]) for node in hidden] == [("hidden datasets", "")]
    assert "salaries" not in text and "hr." not in text and "export_salaries" not in text and "beyond" not in text
    assert str(secret.pk) not in {node["id"][1:] for node in hidden}


def test_bob_who_may_see_hr_sees_its_datasets_by_name(bob: User, hr: Domain, chain: list[Dataset]) -> None:
    secret = DatasetFactory(domain=hr, table_name="salaries", address="hr.census.salaries")
    link(chain[0], secret)
    body = graph(client_for(bob), dataset="sales.shop.raw")
    assert "hr.census.salaries" in addresses(body)
    assert {n["address"]: n["sensitivity"] for n in body["nodes"]}["hr.census.salaries"] == "confidential"


def test_charlie_gets_404_for_an_hr_dataset_s_graph_and_it_is_audited(charlie: User, hr: Domain) -> None:
    DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")
    missing = client_for(charlie).get(URL, {"dataset": "hr.census.adult"})
    unknown = client_for(charlie).get(URL, {"dataset": "hr.census.nothing"})
    assert (missing.status_code, unknown.status_code) == (404, 404)
    assert missing.json() == unknown.json()
    assert list(AuditEvent.objects.filter(action="lineage.view").values_list("outcome", flat=True)) == [
        "denied", "denied"]


def test_anonymous_gets_401(chain: list[Dataset]) -> None:
    assert Client().get(URL, {"dataset": "sales.shop.orders"}).status_code == 401


def test_a_read_leaves_one_audit_row(bob: User, chain: list[Dataset]) -> None:
    graph(client_for(bob), dataset="sales.shop.orders")
    row = AuditEvent.objects.get(action="lineage.view")
    assert (row.actor, row.outcome, row.object_repr) == (bob, "success", "sales.shop.orders")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"dataset": "sales.shop.orders", "up": "9"}, "up"), ({"dataset": "sales.shop.orders", "down": "x"}, "down"),
     ({}, "dataset"), ({"node": "d1"}, "node"), ({"dataset": "sales.shop.orders", "domain": "<b>"}, "domain")],
)
def test_bad_parameters_are_refused_by_name(bob: User, chain: list[Dataset], params: dict, field: str) -> None:
    response = client_for(bob).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_filters_by_domain_and_by_tag_keep_only_matching_datasets(bob: User, chain: list[Dataset]) -> None:
    marketing = DomainFactory(slug="marketing")
    campaign = DatasetFactory(domain=marketing, table_name="campaign", address="marketing.ads.campaign")
    link(chain[1], campaign)
    chain[2].tags.add(Tag.objects.create(name="kpi"))
    client = client_for(bob)

    assert addresses(graph(client, dataset="sales.shop.orders", domain="marketing")) == {
        "sales.shop.orders", "marketing.ads.campaign"}
    by_tag = graph(client, dataset="sales.shop.orders", tag="kpi")
    assert addresses(by_tag) == {"sales.shop.orders", "sales.shop.regional"}
    assert len(by_tag["edges"]) == 1


def test_a_synthetic_sample_is_drawn_from_its_source_with_its_columns(alice: User, bob: User, hr: Domain) -> None:
    adult = DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")
    sample = DatasetFactory(domain=hr, table_name="adult_synth", address="hr.synthetic.adult_synth",
                            kind=Dataset.Kind.SYNTHETIC, derived_from=adult)
    for name in ("age", "sex"):
        ColumnFactory(dataset=adult, name=name)
        ColumnFactory(dataset=sample, name=name)

    body = graph(client_for(alice), dataset="hr.census.adult", columns="true")

    assert {n["address"]: n["kind"] for n in body["nodes"]} == {"hr.census.adult": "dataset",
                                                                 "hr.synthetic.adult_synth": "synthetic"}
    assert [(e["origin"], e["job"]) for e in body["edges"]] == [("synthesis", "portal/synthesis")]
    assert {(c["source_field"], c["target_field"]) for c in body["column_edges"]} == {("age", "age"), ("sex", "sex")}
    upstream = graph(client_for(alice), dataset="hr.synthetic.adult_synth")
    assert "hr.census.adult" in addresses(upstream)
    # bob has no policy on the census: the sample is not his to read, so it is a hidden node.
    assert [n["kind"] for n in graph(client_for(bob), dataset="hr.census.adult")["nodes"]] == ["dataset", "hidden"]


def test_column_edges_come_only_on_demand(bob: User, chain: list[Dataset]) -> None:
    orders, regional = LineageNode.objects.get(dataset=chain[1]), LineageNode.objects.get(dataset=chain[2])
    ColumnEdge.objects.create(source=orders, source_field="amount", target=regional, target_field="revenue",
                              job=Job.objects.get(), transformation="SUM")
    client = client_for(bob)
    assert graph(client, dataset="sales.shop.orders")["column_edges"] == []
    columns = graph(client, dataset="sales.shop.orders", columns="true")["column_edges"]
    assert [(c["source_field"], c["target_field"], c["transformation"]) for c in columns] == [
        ("amount", "revenue", "SUM")]


def test_an_external_node_expands_when_it_touches_what_the_viewer_sees(
    bob: User, charlie: User, hr: Domain, chain: list[Dataset]
) -> None:
    feed = LineageNode.objects.create(namespace="s3://bucket", name="feed.csv")
    link(feed, chain[0])
    secret_feed = LineageNode.objects.create(namespace="s3://hr", name="payroll.csv")
    link(secret_feed, DatasetFactory(domain=hr, table_name="pay", address="hr.census.pay"))

    body = graph(client_for(bob), node=f"x{feed.pk}")
    assert {n["label"] for n in body["nodes"]} == {"feed.csv", "raw"}
    assert client_for(charlie).get(URL, {"node": f"x{secret_feed.pk}"}).status_code == 404
    assert client_for(charlie).get(URL, {"node": "x999999"}).status_code == 404


def test_column_edges_skip_a_synthetic_sample_the_viewer_may_not_read(bob: User, hr: Domain) -> None:
    adult = DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")
    sample = DatasetFactory(domain=hr, table_name="adult_synth", address="hr.synthetic.adult_synth",
                            kind=Dataset.Kind.SYNTHETIC, derived_from=adult)
    for name in ("age", "sex"):
        ColumnFactory(dataset=adult, name=name)
        ColumnFactory(dataset=sample, name=name)

    body = graph(client_for(bob), dataset="hr.census.adult", columns="true")

    assert [n["kind"] for n in body["nodes"]] == ["dataset", "hidden"]
    assert body["column_edges"] == []


def test_the_graph_takes_a_bounded_number_of_queries_however_many_neighbours(
    alice: User, hr: Domain, sales: Domain, django_assert_max_num_queries: Any
) -> None:
    center = DatasetFactory(domain=sales, table_name="center", address="sales.shop.center")
    ColumnFactory(dataset=center, name="amount")
    for number in range(12):
        upstream = DatasetFactory(domain=sales, table_name=f"up{number}", address=f"sales.shop.up{number}")
        upstream.tags.add(Tag.objects.get_or_create(name=f"t{number}")[0])
        link(upstream, center)
        link(LineageNode.objects.create(namespace="s3://bucket", name=f"feed{number}.csv"), upstream)
        link(center, DatasetFactory(domain=hr, table_name=f"down{number}", address=f"hr.census.down{number}"))
        sample = DatasetFactory(domain=sales, table_name=f"s{number}", address=f"sales.synthetic.s{number}",
                                kind=Dataset.Kind.SYNTHETIC, derived_from=center)
        ColumnFactory(dataset=sample, name="amount")
    sales.owners.add(alice)  # she may read the synthetic samples of the center
    client = client_for(alice)
    with django_assert_max_num_queries(35):
        body = graph(client, dataset="sales.shop.center", up=2, columns="true")
    assert len(body["nodes"]) == 1 + 12 + 12 + 12 + 12
    assert len([c for c in body["column_edges"] if c["job"] == "portal/synthesis"]) == 12


def test_hidden_neighbours_are_one_marker_per_side_that_tells_neither_their_number_nor_their_links(
    charlie: User, hr: Domain, chain: list[Dataset]
) -> None:
    for number in range(3):
        secret = DatasetFactory(domain=hr, table_name=f"s{number}", address=f"hr.census.s{number}")
        link(chain[1], secret, job="hr/export")
        link(secret, chain[2], job="hr/import")  # the same hidden dataset also feeds a shown one
    DatasetFactory(domain=hr, table_name="sample", address="hr.synthetic.sample", kind=Dataset.Kind.SYNTHETIC,
                   derived_from=chain[1])

    client = client_for(charlie)
    body = graph(client, dataset="sales.shop.orders", down=2)
    upstream_of_regional = graph(client, dataset="sales.shop.regional")

    hidden = {node["id"] for node in body["nodes"] if node["kind"] == "hidden"}
    marked = [(e["source"] in hidden, e["target"] in hidden, e["origin"], e["job"]) for e in body["edges"]
              if e["source"] in hidden or e["target"] in hidden]
    # Three hidden tables and a sample downstream of orders: one marker, one edge, never four nodes.
    assert len(hidden) == 1 and marked == [(False, True, "hidden", "")]
    assert [n["direction"] for n in upstream_of_regional["nodes"] if n["kind"] == "hidden"] == ["up"]
    shown_ids = [e["id"] for e in body["edges"] if e["source"] not in hidden and e["target"] not in hidden]
    assert shown_ids == [f"e{number}" for number in range(1, len(shown_ids) + 1)]  # no gaps where edges were
    assert "synthesis" not in str(body) and "export" not in str(upstream_of_regional) + str(body)
