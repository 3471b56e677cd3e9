"""One small mesh with every kind of object and every role, for the permission matrix and the fuzzer.

- **hr** (confidential, visible to the ``analysts`` group, owned by alice): product ``census``,
  dataset ``hr.census.adult`` on a real SQLite backend with a few rows, a dataset budget, a harvest
  run, bob's DP policy, sam's synthetic-only policy, bob's pending access request, a query bob ran
  (succeeded, with an answer), one bob left queued (its reservation open) and one alice ran.
- **finance** (confidential, visible to the ``finance`` group only, owned by fiona): the same kinds of
  objects, all of them foreign to everyone but admin and finance people.
- **sales** (open, visible to everyone): product ``shop``, dataset ``sales.shop.orders``.

Roles: admin, alice (owner of hr), bob (analyst, DP), sam (analyst, synthetic only), charlie (signed
in, no access to hr or finance), anonymous.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.test import Client

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset, HarvestRun
from apps.domains.models import Backend, Domain, Sensitivity
from apps.privacy.accountant import budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import AccessMode, AccessRequest, LedgerEntry, Policy
from apps.privacy.requests import access_request_create
from apps.privacy.services import dataset_budget_set, policy_save
from apps.queries.models import QueryJob
from apps.queries.services import query_submit
from apps.synth.models import SynthJob
from tests.factories import (
    BackendFactory,
    ColumnFactory,
    DataProductFactory,
    DatasetFactory,
    DomainFactory,
    GroupFactory,
    UserFactory,
)
from tests.queries.conftest import add_adult_columns

ROLES = ("admin", "alice", "bob", "sam", "charlie", "anonymous")
ADULT_ROWS = [
    {"person_id": i, "age": 20 + 3 * i, "sex": "Male" if i % 2 else "Female", "hours_per_week": 30 + i}
    for i in range(12)
]


@dataclass
class Side:
    """The objects of one confidential domain."""

    domain: Domain
    product: DataProduct
    dataset: Dataset
    column: Column
    backend: Backend
    harvest_run: HarvestRun
    policy: Policy
    access_request: AccessRequest
    job: QueryJob
    queued_job: QueryJob | None = None
    reservation: LedgerEntry | None = None
    owner_job: QueryJob | None = None
    synth_job: SynthJob | None = None


@dataclass
class World:
    users: dict[str, User]
    hr: Side
    finance: Side
    sales_domain: Domain
    sales_product: DataProduct
    sales_dataset: Dataset
    sales_column: Column
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(self.users[role])
        return client


def _job_row(*, owner: User, dataset: Dataset, status: str) -> QueryJob:
    return QueryJob.objects.create(
        owner=owner,
        dataset=dataset,
        dataset_version=dataset.version,
        sql="SELECT COUNT(*) FROM t",
        normalized_sql="SELECT COUNT(*) FROM t",
        plan={},
        mechanism="laplace",
        status=status,
        error="",
    )


def _synth_row(*, owner: User, dataset: Dataset) -> SynthJob:
    """A sample job that failed (no sample to download): enough for who-sees-what."""
    return SynthJob.objects.create(
        owner=owner, dataset=dataset, dataset_version=dataset.version, synthesizer="mst", columns=["age"],
        epsilon="0.5", rows=10, status=SynthJob.Status.FAILED, error="test",
    )  # fmt: skip


def _confidential_side(*, slug: str, owner: User, group_name: str) -> tuple[Domain, DataProduct, Dataset, Backend]:
    domain = DomainFactory(slug=slug, name=slug.title(), sensitivity=Sensitivity.CONFIDENTIAL)
    domain.owners.add(owner)
    domain.visible_to_groups.add(GroupFactory(name=group_name))
    product = DataProductFactory(domain=domain, slug="census" if slug == "hr" else "ledger")
    table = "adult" if slug == "hr" else "payments"
    dataset = DatasetFactory(
        domain=domain,
        product=product,
        table_name=table,
        address=f"{slug}.{product.slug}.{table}",
        sensitivity=Sensitivity.CONFIDENTIAL,
        privacy_unit_column="person_id",
        max_rows_per_unit=1,
        description="Adults, **declared** bounds." if slug == "hr" else "Payments of the treasury.",
    )
    backend = BackendFactory(domain=domain, slug=f"{slug}-db")
    return domain, product, dataset, backend


def build_world(*, table_copy: Any, django_capture_on_commit_callbacks: Any, settings: Any) -> World:
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    sam = UserFactory(username="sam")
    charlie = UserFactory(username="charlie")
    fiona = UserFactory(username="fiona")
    fred = UserFactory(username="fred")
    analysts = GroupFactory(name="analysts")
    bob.groups.add(analysts)
    sam.groups.add(analysts)
    fred.groups.add(GroupFactory(name="finance"))
    users = {"admin": admin, "alice": alice, "bob": bob, "sam": sam, "charlie": charlie, "fiona": fiona, "fred": fred}

    # hr: alice's confidential domain, on a real SQLite backend.
    hr, census, adult, hr_backend = _confidential_side(slug="hr", owner=alice, group_name="analysts")
    add_adult_columns(adult)
    table_copy(adult, "sqlite", ADULT_ROWS)
    adult.refresh_from_db()
    hr_backend = adult.backend
    dataset_budget_set(actor=alice, dataset=adult, epsilon_limit="10", delta_limit="0.00001")
    bob_policy = policy_save(actor=alice, scope=adult, user=bob, epsilon_budget="3", delta_budget="0.000001")
    policy_save(
        actor=alice,
        scope=adult,
        user=sam,
        access_mode=AccessMode.SYNTHETIC,
        epsilon_budget="1",
        delta_budget="0.000001",
    )
    bob_request = access_request_create(
        actor=bob, dataset=adult, access_mode=AccessMode.DP, epsilon="2", reason="More budget for the study."
    )
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        bob_job = query_submit(
            actor=bob, dataset=adult, sql="SELECT sex, COUNT(*) FROM adult GROUP BY sex",
            mechanism="laplace", epsilon="0.5", rho=None, delta=None,
        )  # fmt: skip
    bob_job.refresh_from_db()
    assert bob_job.status == QueryJob.Status.SUCCEEDED, bob_job.error
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=False):
        queued = query_submit(
            actor=bob, dataset=adult, sql="SELECT COUNT(*) FROM adult", mechanism="laplace", epsilon="0.25",
            rho=None, delta=None,
        )  # fmt: skip
    bob_reservation = budget_reserve(
        actor=bob, dataset=adult, cost=PrivacyCost(epsilon=Decimal("0.1")), mechanism="laplace", reference="api:matrix"
    )
    hr_side = Side(
        domain=hr,
        product=census,
        dataset=adult,
        column=adult.columns.get(name="age"),
        backend=hr_backend,
        harvest_run=HarvestRun.objects.create(backend=hr_backend, requested_by=alice, status="succeeded"),
        policy=bob_policy,
        access_request=bob_request,
        job=bob_job,
        queued_job=queued,
        reservation=bob_reservation,
        owner_job=_job_row(owner=alice, dataset=adult, status=QueryJob.Status.FAILED),
        synth_job=_synth_row(owner=bob, dataset=adult),
    )

    # finance: fiona's confidential domain, foreign to everyone above but admin.
    finance, ledger, payments, fin_backend = _confidential_side(slug="finance", owner=fiona, group_name="finance")
    fin_column = ColumnFactory(dataset=payments, name="amount", lower_bound=0, upper_bound=1000)
    ColumnFactory(dataset=payments, name="person_id")
    dataset_budget_set(actor=fiona, dataset=payments, epsilon_limit="10", delta_limit="0")
    fred_policy = policy_save(actor=fiona, scope=payments, user=fred, epsilon_budget="1")
    fred_request = access_request_create(
        actor=fred, dataset=payments, access_mode=AccessMode.DP, epsilon="2", reason="More, please."
    )
    fred_job = _job_row(owner=fred, dataset=payments, status=QueryJob.Status.FAILED)
    fin_reservation = budget_reserve(
        actor=fred, dataset=payments, cost=PrivacyCost(epsilon=Decimal("0.1")), mechanism="laplace", reference="test"
    )
    finance_side = Side(
        domain=finance,
        product=ledger,
        dataset=payments,
        column=fin_column,
        backend=fin_backend,
        harvest_run=HarvestRun.objects.create(backend=fin_backend, requested_by=fiona, status="succeeded"),
        policy=fred_policy,
        access_request=fred_request,
        job=fred_job,
        queued_job=fred_job,
        reservation=fin_reservation,
        owner_job=fred_job,
        synth_job=_synth_row(owner=fred, dataset=payments),
    )

    # sales: open, visible to every signed-in user.
    sales = DomainFactory(slug="sales", name="Sales", sensitivity=Sensitivity.OPEN)
    shop = DataProductFactory(domain=sales, slug="shop")
    orders = DatasetFactory(domain=sales, product=shop, table_name="orders", address="sales.shop.orders")
    return World(
        users=users,
        hr=hr_side,
        finance=finance_side,
        sales_domain=sales,
        sales_product=shop,
        sales_dataset=orders,
        sales_column=ColumnFactory(dataset=orders, name="total"),
    )
