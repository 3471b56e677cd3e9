"""Governance as code: `manage.py governance plan|apply|export`, on PostgreSQL, through the real services."""

import textwrap
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.catalog.models import DataProduct, Dataset
from apps.domains.models import Backend, Domain
from apps.privacy.accountant import budget_commit, budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.governance import governance_export
from apps.privacy.models import DatasetBudget, Mechanism, Policy
from apps.privacy.services import policy_save
from apps.usage.models import AuditEvent
from tests.domains.backends import make_sqlite
from tests.factories import BackendFactory, DataProductFactory, DatasetFactory, DomainFactory, GroupFactory

pytestmark = pytest.mark.django_db

MESH = """\
version: 1
domains:
  - slug: hr
    name: Human Resources
    description: People data of the company.
    sensitivity: confidential
    owners: [alice]
    visible_to_groups: [analysts]
    products:
      - slug: census
        name: Census workforce
        owners: [alice]
        tags: [census, people]
        status: active
        freshness_hours: 24
        datasets: [hr.census.adult]
  - slug: finance
    name: Finance
    sensitivity: open
    owners: [charlie]
dataset_budgets:
  - dataset: hr.census.adult
    epsilon_limit: 10
    delta_limit: 1e-5
policies:
  - user: bob
    dataset: hr.census.adult
    access_mode: dp
    epsilon_budget: 1
    delta_budget: 0.000001
    epsilon_per_release_cap: 0.5
    allowed_mechanisms: [laplace, gaussian]
    expires_at: 2030-01-01T00:00:00Z
  - group: analysts
    domain: hr
    access_mode: synthetic
    epsilon_budget: 0.5
"""


@pytest.fixture
def mesh_file(tmp_path: Path):
    def write(text: str, name: str = "mesh.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


def governance(*args: str) -> str:
    out = StringIO()
    call_command("governance", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args: str, match: str = "nothing was changed") -> str:
    err = StringIO()
    with pytest.raises(CommandError, match=match):
        call_command("governance", *args, stdout=StringIO(), stderr=err)
    return err.getvalue()


def snapshot(actor) -> tuple[str, int]:
    """What a governance file can change, and the audit trail."""
    return governance_export(actor=actor), AuditEvent.objects.count()


def test_plan_prints_what_apply_would_create_and_change_and_changes_nothing(mesh_file, admin_user, adult, charlie):
    before = snapshot(admin_user)

    out = governance("plan", mesh_file(MESH))

    assert out.splitlines() == [
        "~ domain hr: description changed",
        "+ product hr/census: create",
        "~ dataset hr.census.adult: product (none) -> hr/census",
        "+ domain finance: create",
        "+ budget of hr.census.adult: epsilon_limit 10, delta_limit 0.00001",
        "+ policy user bob on dataset hr.census.adult: dp, epsilon 1, delta 0.000001",
        "+ policy group analysts on domain hr: synthetic, epsilon 0.5, delta 0",
        "Plan: 5 to create, 2 to change, 0 to revoke.",
    ]
    assert snapshot(admin_user) == before


def test_apply_makes_the_changes_through_the_services_and_a_plan_afterwards_prints_no_changes(
    mesh_file, admin_user, adult, charlie
):
    path = mesh_file(MESH)

    out = governance("apply", path)

    assert out.splitlines()[-1] == "Applied: 5 created, 2 changed, 0 revoked."
    census = DataProduct.objects.get(domain__slug="hr", slug="census")
    assert [u.username for u in census.owners.all()] == ["alice"]
    assert sorted(census.tags.values_list("name", flat=True)) == ["census", "people"]
    assert Dataset.objects.get(address="hr.census.adult").product == census
    finance = Domain.objects.get(slug="finance")
    assert [u.username for u in finance.owners.all()] == ["charlie"]
    budget = DatasetBudget.objects.get(dataset=adult)
    assert (budget.epsilon_limit, budget.delta_limit) == (Decimal(10), Decimal("0.00001"))
    bob_policy = Policy.objects.get(user__username="bob", dataset=adult)
    assert bob_policy.epsilon_per_release_cap == Decimal("0.5")
    assert bob_policy.allowed_mechanisms == ["gaussian", "laplace"]
    assert bob_policy.expires_at.isoformat() == "2030-01-01T00:00:00+00:00"
    assert Policy.objects.get(group__name="analysts", domain__slug="hr").access_mode == "synthetic"
    actions = set(AuditEvent.objects.filter(actor=admin_user).values_list("action", flat=True))
    assert {"domain.create", "domain.update", "product.create", "dataset.update", "dataset_budget.set"} <= actions
    assert "policy.create" in actions

    assert governance("plan", path) == "No changes.\n"


def test_applying_the_same_file_twice_writes_no_new_audit_rows(mesh_file, admin_user, adult, charlie):
    path = mesh_file(MESH)
    governance("apply", path)
    before = snapshot(admin_user)

    assert governance("apply", path) == "No changes.\n"

    assert snapshot(admin_user) == before


def test_plan_shows_changes_to_policies_and_lists_those_not_in_the_file_for_prune(
    mesh_file, admin_user, alice, bob_policy, dave, funded_adult
):
    policy_save(actor=alice, scope=funded_adult, user=dave, epsilon_budget="2")
    path = mesh_file("""\
        version: 1
        domains:
          - slug: hr
        policies:
          - user: bob
            dataset: hr.census.adult
            access_mode: dp
            epsilon_budget: 2
            allowed_mechanisms: [laplace]
    """)

    assert governance("plan", path).splitlines() == [
        "~ policy user bob on dataset hr.census.adult: epsilon_budget 1 -> 2; "
        "allowed_mechanisms -gaussian -synthesizer",
        "- policy user dave on dataset hr.census.adult: would revoke (with --prune)",
        "Plan: 0 to create, 1 to change, 0 to revoke.",
    ]
    governance("apply", path)
    assert Policy.objects.filter(user=dave).exists()
    assert governance("plan", path).splitlines() == [
        "No changes.",
        "- policy user dave on dataset hr.census.adult: would revoke (with --prune)",
    ]

    assert (
        governance("plan", path, "--prune").splitlines()[0] == "- policy user dave on dataset hr.census.adult: revoke"
    )
    assert Policy.objects.filter(user=dave).exists()
    governance("apply", path, "--prune")
    assert not Policy.objects.filter(user=dave).exists()
    assert AuditEvent.objects.filter(action="policy.revoke", actor=admin_user).count() == 1
    assert governance("plan", path, "--prune") == "No changes.\n"


def test_keys_left_out_of_an_entry_keep_their_values(mesh_file, admin_user, bob_policy, funded_adult):
    path = mesh_file("""\
        version: 1
        domains:
          - slug: hr
            description: Only the description is managed here.
        policies:
          - user: bob
            dataset: hr.census.adult
            access_mode: synthetic
            epsilon_budget: 1
    """)

    governance("apply", path)

    hr = Domain.objects.get(slug="hr")
    assert hr.description == "Only the description is managed here."
    assert [u.username for u in hr.owners.all()] == ["alice"]
    bob_policy.refresh_from_db()
    assert bob_policy.access_mode == "synthetic"
    assert bob_policy.delta_budget == Decimal("0.000001")


def test_an_exported_state_plans_no_changes(mesh_file, tmp_path, admin_user, alice, bob_policy, funded_adult):
    hr = funded_adult.domain
    hr.description = "People data.\n\nConfidential: only **DP** answers leave it."
    hr.save()
    BackendFactory(domain=hr, slug="census", kind=Backend.Kind.SQLITE, url="/data/hr/census.sqlite3")
    product = DataProductFactory(domain=hr, slug="census", name="Census: workforce", description="Line one\nline two")
    funded_adult.product = product
    funded_adult.save()
    DatasetFactory(domain=hr, table_name="salaries", address="hr.census.salaries")
    policy_save(
        actor=alice, scope=product, group=GroupFactory(name="analysts"), access_mode="synthetic",
        epsilon_budget="0.25", allowed_mechanisms=["synthesizer"], expires_at="2031-06-30T12:30:00+02:00",
        epsilon_per_release_cap="0.125",
    )  # fmt: skip
    policy_save(actor=alice, scope=hr, user=alice, access_mode="raw", epsilon_budget="3")
    exported = tmp_path / "exported.yaml"

    assert governance("export", str(exported)) == f"Wrote {exported}.\n"

    text = exported.read_text()
    assert "password" not in text
    assert text.index("- slug: hr") < text.index("dataset_budgets:") < text.index("policies:")
    assert governance("export") == text, "the export is stable"
    assert governance("plan", str(exported)) == "No changes.\n"


def test_the_demo_mesh_exported_plans_no_changes(tmp_path, mesh_file):
    from apps.catalog.demo import demo_mesh_load

    demo_mesh_load(password="demo-password-for-tests", demo_dir=tmp_path / "mesh")
    exported = tmp_path / "demo.yaml"
    governance("export", str(exported))

    assert "hr.census.adult" in exported.read_text()
    assert governance("plan", str(exported)) == "No changes.\n"
    assert governance("apply", str(exported)) == "No changes.\n"


INVALID = [
    pytest.param("version: 1\ndomains:\n  - slug: hr\n   name: x\n", 4, "not valid YAML", id="bad-syntax"),
    pytest.param("version: 1\ndomains:\n  - slug: hr\n    colour: blue\n", 4, "unknown key 'colour' in a domain",
                 id="unknown-key"),
    pytest.param("version: 1\ndataset_budgets:\n  - dataset: hr.census.adult\n    epsilon_limit: -1\n", 4,
                 "epsilon_limit must be at least zero.", id="negative-budget"),
    pytest.param("version: 1\npolicies:\n  - user: bob\n    dataset: hr.census.adult\n    access_mode: dp\n"
                 "    epsilon_budget: .nan\n", 6, "epsilon_budget must be a finite number.", id="nan-budget"),
    pytest.param("version: 1\npolicies:\n  - user: bob\n    dataset: hr.census.adult\n    access_mode: dp\n"
                 "    epsilon_budget: '0.5'\n", 6, "epsilon_budget must be a number (not quoted", id="quoted-budget"),
    pytest.param("version: 1\npolicies:\n  - user: bob\n    dataset: hr.census.adult\n    access_mode: dp\n"
                 "    epsilon_budget: plenty\n", 6, "epsilon_budget must be a number.", id="string-budget"),
    pytest.param("version: 1\npolicies:\n  - user: zed\n    dataset: hr.census.adult\n    access_mode: dp\n"
                 "    epsilon_budget: 1\n", 3, "unknown user 'zed'.", id="unknown-user"),
    pytest.param("version: 1\ndomains:\n  - slug: hr\n    visible_to_groups: [analysts, auditors]\n", 4,
                 "unknown group 'auditors'.", id="unknown-group"),
    pytest.param("version: 1\ndataset_budgets:\n  - dataset: hr.census.nope\n    epsilon_limit: 1\n", 3,
                 "unknown dataset 'hr.census.nope': datasets come from harvesting", id="unknown-dataset"),
    pytest.param("version: 1\npolicies:\n  - user: bob\n    dataset: hr.census.adult\n    access_mode: dp\n"
                 "    epsilon_budget: 1\n  - user: bob\n    dataset: hr.census.adult\n    access_mode: none\n"
                 "    epsilon_budget: 0\n", 7,
                 "policy user bob on dataset hr.census.adult is already described on line 3.", id="duplicate-policy"),
    pytest.param("version: 1\npolicies:\n  - user: bob\n    group: analysts\n    dataset: hr.census.adult\n"
                 "    access_mode: dp\n    epsilon_budget: 1\n", 3, "a policy names exactly one subject",
                 id="two-subjects"),
    pytest.param("version: 1\ndomains:\n  - slug: hr\n    backends:\n      - slug: db\n        kind: postgresql\n"
                 "        url: postgresql://reader:s3cret@db.example.org/hr\n", 7, "url must not hold a password",
                 id="inline-password"),
    pytest.param("version: 1\ndomains:\n  - slug: hr\n    backends:\n      - slug: db\n        kind: sqlite\n"
                 "        url: /data/hr.sqlite3\n        password: s3cret\n", 8,
                 "unknown key 'password' in a backend (a password is never written in the file",
                 id="password-key"),
    pytest.param("version: 1\ndomains:\n  - slug: hr\n    owners: &team [alice]\n  - slug: sales\n    owners: *team\n",
                 6, "aliases (*name) are not supported", id="alias"),
    pytest.param("version: 2\n", 1, "version must be 1.", id="version"),
    pytest.param("", 1, "the file is empty", id="empty"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), INVALID)
def test_an_invalid_file_gives_line_numbered_errors_and_changes_nothing(
    mesh_file, admin_user, bob_policy, funded_adult, text, line, message
):
    before = snapshot(admin_user)

    err = refused("plan", mesh_file(text))
    assert f"mesh.yaml:{line}: {message}" in err
    err = refused("apply", mesh_file(text))
    assert f"mesh.yaml:{line}: {message}" in err

    assert snapshot(admin_user) == before


def test_every_problem_of_a_file_is_reported_not_only_the_first(mesh_file, admin_user, funded_adult):
    path = mesh_file("""\
        version: 1
        domains:
          - slug: hr
            sensitivity: secret
            owners: [alice, nobody]
        dataset_budgets:
          - dataset: hr.census.adult
            epsilon_limit: -1
            delta_limit: 1
    """)

    err = refused("apply", path, match="4 problems in .*mesh.yaml: nothing was changed")

    assert err.splitlines() == [
        f"{path}:4: sensitivity must be one of: open, confidential.",
        f"{path}:5: unknown user 'nobody'.",
        f"{path}:8: epsilon_limit must be at least zero.",
        f"{path}:9: delta_limit must be below 1.",
    ]


def test_a_budget_below_what_was_spent_is_refused_and_nothing_is_applied(
    mesh_file, admin_user, bob, bob_policy, funded_adult
):
    reservation = budget_reserve(
        actor=bob, dataset=funded_adult, cost=PrivacyCost(epsilon=Decimal("0.8")), mechanism=Mechanism.LAPLACE
    )
    budget_commit(reservation=reservation)
    path = mesh_file("""\
        version: 1
        domains:
          - slug: hr
            description: A change that must not be applied alone.
        dataset_budgets:
          - dataset: hr.census.adult
            epsilon_limit: 0.5
    """)
    before = snapshot(admin_user)

    for action in ("plan", "apply"):
        err = refused(action, path, match="1 problem in")
        assert err.startswith(f"{path}:6: budget of hr.census.adult: 0.8 epsilon")
        assert "already spent or reserved" in err

    assert snapshot(admin_user) == before
    assert Domain.objects.get(slug="hr").description == ""


def test_backends_are_registered_and_moved_by_reference(mesh_file, tmp_path, admin_user, hr, monkeypatch):
    first = make_sqlite(tmp_path / "first.sqlite3")
    second = make_sqlite(tmp_path / "second.sqlite3")
    text = """\
        version: 1
        domains:
          - slug: hr
            backends:
              - slug: files
                kind: sqlite
                url: {url}
    """

    assert (
        governance("apply", mesh_file(text.format(url=first))).splitlines()[0]
        == "+ backend hr.files: register (sqlite)"
    )
    backend = Backend.objects.get(domain=hr, slug="files")
    assert backend.url == str(first)
    assert governance("plan", mesh_file(text.format(url=first))) == "No changes.\n"

    assert governance("apply", mesh_file(text.format(url=second))).splitlines()[0] == "~ backend hr.files: url changed"
    backend.refresh_from_db()
    assert backend.url == str(second)

    moved = text.format(url=second).replace("kind: sqlite", "kind: duckdb")
    out = governance("apply", mesh_file(moved))
    assert out.splitlines()[:2] == [
        "No changes.",
        "! backend hr.files: kind sqlite -> duckdb: not applied (a registered backend's kind cannot change; "
        "register a new backend under another slug)",
    ]
    backend.refresh_from_db()
    assert backend.kind == Backend.Kind.SQLITE


def test_a_backend_password_comes_only_from_the_environment(mesh_file, tmp_path, admin_user, hr, monkeypatch):
    path = mesh_file(f"""\
        version: 1
        domains:
          - slug: hr
            backends:
              - slug: files
                kind: sqlite
                url: {make_sqlite(tmp_path / "hr.sqlite3")}
                password_env: GOVERNANCE_TEST_PASSWORD
    """)
    monkeypatch.delenv("GOVERNANCE_TEST_PASSWORD", raising=False)

    err = refused("apply", path)

    assert f"{path}:5: password_env: the environment variable GOVERNANCE_TEST_PASSWORD is not set." in err
    assert not Backend.objects.filter(slug="files").exists()


def test_a_user_who_may_not_see_a_domain_changes_nothing_in_it(mesh_file, charlie, hr):
    path = mesh_file("version: 1\ndomains:\n  - slug: hr\n    description: charlie was here\n")

    err = refused("apply", path, "--actor", "charlie")

    assert err == f"{path}:3: domain hr: not found, or not visible to the acting user.\n"
    assert Domain.objects.get(slug="hr").description == ""


def test_only_an_admin_creates_a_domain(mesh_file, alice, hr):
    path = mesh_file("version: 1\ndomains:\n  - slug: finance\n    owners: [alice]\n")

    err = refused("plan", path, "--actor", "alice")

    assert err == f"{path}:3: domain finance: Only admins can create domains.\n"
    assert not Domain.objects.filter(slug="finance").exists()


def test_it_refuses_to_run_without_an_actor(mesh_file, alice):
    with pytest.raises(CommandError, match="no active superuser to act as"):
        governance("export")
    with pytest.raises(CommandError, match="no active user named 'zed'"):
        governance("export", "--actor", "zed")


def test_an_owner_applies_changes_to_their_own_domain_as_themselves(mesh_file, alice, bob, hr):
    path = mesh_file("version: 1\ndomains:\n  - slug: hr\n    owners: [alice, bob]\n")

    assert governance("apply", path, "--actor", "alice").splitlines()[0] == "~ domain hr: owners +bob"

    assert sorted(hr.owners.values_list("username", flat=True)) == ["alice", "bob"]
    event = AuditEvent.objects.get(action="domain.update")
    assert event.actor == alice
    assert event.details == {"before": {"owners": ["alice"]}, "after": {"owners": ["alice", "bob"]}}


def test_a_dataset_the_file_no_longer_lists_leaves_its_product(mesh_file, admin_user, adult):
    product = DataProductFactory(domain=adult.domain, slug="census")
    adult.product = product
    adult.save()
    path = mesh_file("version: 1\ndomains:\n  - slug: hr\n    products:\n      - slug: census\n        datasets: []\n")

    assert governance("apply", path).splitlines()[0] == "~ dataset hr.census.adult: product hr/census -> (none)"

    adult.refresh_from_db()
    assert adult.product is None


def test_an_export_holds_only_the_domains_the_actor_manages(admin_user, alice, bob, bob_policy):
    sales = DomainFactory(slug="sales")
    sales.owners.add(admin_user)

    assert governance("export", "--actor", "admin").count("- slug: ") == 2
    by_alice = governance("export", "--actor", "alice")
    assert "- slug: hr" in by_alice and "sales" not in by_alice
    assert "user: bob" in by_alice
    assert governance("export", "--actor", "bob") == "version: 1\ndomains: []\ndataset_budgets: []\npolicies: []\n"
