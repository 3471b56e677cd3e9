"""The permission matrix: what every route of the project answers to every role.

Each route of ``get_resolver()`` is listed here by its full pattern, with one ``Call`` per method
worth checking. On the hr object of ``world.py`` (or no object), a call expects:

- 2xx/3xx from the roles in ``allowed``;
- 403, with a message, from the roles in ``forbidden`` (they may see the object, not act on it);
- the status in ``refused`` from the roles named there (409: the job has ended, 400: refused …);
- 404 from every other signed-in role, as if the object did not exist (query jobs and reservations
  are personal: admin gets 404 on someone else's too);
- from anonymous: a redirect to the login page (pages) or 401 (API), unless the route is ``public``.

The same call on the finance object gives 404 to everyone outside finance; ``nested`` builds a URL
that puts a finance child under an hr parent, or names another user's job on a visible dataset: 404
whoever asks. ``test_permission_matrix.py`` says which roles make which of these requests.

A route missing from ``ROUTES`` fails the matrix test: add it here with what each role may do.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.security.world import ROLES, Side, World

EVERYONE = frozenset({"admin", "alice", "bob", "sam", "charlie"})
HR_VIEWERS = frozenset({"admin", "alice", "bob", "sam"})
HR_MANAGERS = frozenset({"admin", "alice"})
HR_ANALYSTS = frozenset({"bob", "sam"})

Kwargs = Callable[[World, Side], dict[str, Any]]
Body = Callable[[World, Side], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    method: str = "GET"
    kwargs: Kwargs | None = None  # None: the route takes no object in its URL
    body: Body | None = None
    allowed: frozenset[str] = HR_VIEWERS
    forbidden: frozenset[str] = frozenset()
    refused: dict[str, str] = field(default_factory=dict)  # role -> another refusal (409 conflict, 400 …)
    foreign: bool = True  # whether the finance side is a meaningful "foreign object" for this call
    nested: Callable[[World, str], dict[str, Any]] | None = None
    public: bool = False
    api: bool = False
    leak_check: bool = True
    query: dict[str, str] = field(default_factory=dict)

    def data(self, world: World, side: Side) -> tuple[Any, str | None]:
        if self.body is None:
            if self.api and self.method != "GET":
                return "{}", "application/json"
            return None, None
        body = self.body(world, side)
        if self.api:
            return json.dumps(body), "application/json"
        return body, None


def _domain(w: World, s: Side) -> dict:
    return {"domain": s.domain.slug}


def _product(w: World, s: Side) -> dict:
    return {"domain": s.domain.slug, "product": s.product.slug}


def _dataset(w: World, s: Side) -> dict:
    return {"address": s.dataset.address}


def _column(w: World, s: Side) -> dict:
    return {"address": s.dataset.address, "pk": s.column.pk}


def _column_nested(w: World, role: str) -> dict:
    return {"address": w.hr.dataset.address, "pk": w.finance.column.pk}


def _backend(w: World, s: Side) -> dict:
    return {"domain": s.domain.slug, "backend": s.backend.slug}


def _backend_nested(w: World, role: str) -> dict:
    return {"domain": w.hr.domain.slug, "backend": w.finance.backend.slug}


def _policy(w: World, s: Side) -> dict:
    return {"address": s.dataset.address, "pk": s.policy.pk}


def _policy_nested(w: World, role: str) -> dict:
    return {"address": w.hr.dataset.address, "pk": w.finance.policy.pk}


def _pk(attribute: str) -> Kwargs:
    return lambda w, s: {"pk": getattr(s, attribute).pk}


def _job_of_alice(w: World, role: str) -> dict:
    """A job of another user on a dataset the role may see (alice's; for alice, bob's)."""
    return {"pk": (w.hr.job if role == "alice" else w.hr.owner_job).pk}


# --- API ids -------------------------------------------------------------------------------------


def _slug(w: World, s: Side) -> dict:
    return {"slug": s.domain.slug}


def _slug_product(w: World, s: Side) -> dict:
    return {"slug": s.domain.slug, "product": s.product.slug}


def _api_column(w: World, s: Side) -> dict:
    return {"address": s.dataset.address, "name": s.column.name}


def _api_column_nested(w: World, role: str) -> dict:
    return {"address": w.hr.dataset.address, "name": w.finance.column.name}


def _api_product_nested(w: World, role: str) -> dict:
    return {"slug": w.hr.domain.slug, "product": w.finance.product.slug}


def _page(**kwargs: Any) -> Call:
    return Call(**kwargs)


def _api(**kwargs: Any) -> Call:
    return Call(api=True, **kwargs)


def _query_body(w: World, s: Side) -> dict:
    return {
        "dataset": s.dataset.address,
        "sql": f"SELECT COUNT(*) FROM {s.dataset.table_name}",  # noqa: S608
        "mechanism": "laplace",
        "epsilon": "0.1",
    }


def _new_backend(w: World, s: Side) -> dict:
    return {"kind": "sqlite", "slug": "another", "url": w.hr.backend.url}


def _policy_fields(**fields: str) -> Body:
    return lambda w, s: {
        "access_mode": "dp",
        "epsilon_budget": "1",
        "delta_budget": "0",
        "allowed_mechanisms": ["laplace"],
        **fields,
    }


def _synth_body(w: World, s: Side) -> dict:
    return {"dataset": s.dataset.address, "synthesizer": "mst", "columns": ["age", "sex"], "epsilon": "0.5", "rows": 10}


def _synth_form(w: World, s: Side) -> dict:
    return {
        "dataset": s.dataset.address,
        "synthesizer": "mst",
        "columns": ["age", "sex"],
        "epsilon": "0.5",
        "rows": "10",
    }


# A sample job is seen by its owner and by those who manage its dataset's policies.
SYNTH_JOB_READERS = frozenset({"admin", "alice", "bob"})
# The world's sample job failed: it has no sample, which its readers are told (409).
NO_SAMPLE = {"admin": "409", "alice": "409", "bob": "409"}


def _cost_body(w: World, s: Side) -> dict:
    return {"dataset": s.dataset.address, "mechanism": "laplace", "epsilon": "0.1"}


ROUTES: dict[str, list[Call]] = {
    # --- authentication and API description (public) ---------------------------------------------
    "accounts/login/": [_page(allowed=EVERYONE, public=True)],
    "accounts/logout/": [_page(method="POST", allowed=EVERYONE, public=True)],
    "api/schema/": [_api(allowed=EVERYONE, public=True, leak_check=False)],  # examples name hr.census.adult
    "api/docs/": [_api(allowed=EVERYONE, public=True)],
    "api/v1/auth/token/": [
        _api(
            method="POST",
            allowed=EVERYONE,
            public=True,
            body=lambda w, s: {"username": "bob", "password": "correct-horse-battery"},
        ),
    ],
    # --- catalog pages ---------------------------------------------------------------------------
    "": [_page(allowed=EVERYONE)],
    "search/": [_page(allowed=EVERYONE, query={"q": "adult"})],
    "d/<slug:domain>/": [_page(kwargs=_domain)],
    "d/<slug:domain>/~about/": [_page(kwargs=_domain)],
    "d/<slug:domain>/~edit/": [
        _page(kwargs=_domain, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
        _page(
            method="POST",
            kwargs=_domain,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"description": "New words."},
        ),
    ],
    "d/<slug:domain>/<slug:product>/": [_page(kwargs=_product)],
    "d/<slug:domain>/<slug:product>/about/": [_page(kwargs=_product)],
    "d/<slug:domain>/<slug:product>/edit/": [
        _page(kwargs=_product, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
        _page(
            method="POST",
            kwargs=_product,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"description": "New words.", "tags": "x"},
        ),
    ],
    "datasets/<str:address>/": [_page(kwargs=_dataset)],
    "datasets/<str:address>/about/": [_page(kwargs=_dataset)],
    "datasets/<str:address>/edit/": [
        _page(kwargs=_dataset, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
        _page(
            method="POST",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {
                "description": "New words.",
                "privacy_unit_column": "person_id",
                "max_rows_per_unit": "1",
            },
        ),
    ],
    "datasets/<str:address>/columns/<int:pk>/": [_page(kwargs=_column, nested=_column_nested)],
    "datasets/<str:address>/columns/<int:pk>/edit/": [
        _page(kwargs=_column, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, nested=_column_nested),
        _page(
            method="POST",
            kwargs=_column,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            nested=_column_nested,
            body=lambda w, s: {"description": "Years.", "lower_bound": "0", "upper_bound": "120"},
        ),
    ],
    # --- backends (pages): whoever sees the domain sees its backends' health; owners change them --
    "domains/harvest-runs/<int:pk>/": [_page(kwargs=_pk("harvest_run"))],
    "domains/<slug:domain>/backends/": [_page(kwargs=_domain)],
    "domains/<slug:domain>/backends/new/": [
        _page(kwargs=_domain, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
        _page(method="POST", kwargs=_domain, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, body=_new_backend),
    ],
    "domains/<slug:domain>/backends/<slug:backend>/": [_page(kwargs=_backend, nested=_backend_nested)],
    "domains/<slug:domain>/backends/<slug:backend>/edit/": [
        _page(kwargs=_backend, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, nested=_backend_nested),
        _page(
            method="POST",
            kwargs=_backend,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            nested=_backend_nested,
            body=lambda w, s: {"url": s.backend.url},
        ),
    ],
    "domains/<slug:domain>/backends/<slug:backend>/delete/": [
        _page(method="POST", kwargs=_backend, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, nested=_backend_nested)
    ],
    "domains/<slug:domain>/backends/<slug:backend>/check/": [
        _page(method="POST", kwargs=_backend, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, nested=_backend_nested)
    ],
    "domains/<slug:domain>/backends/<slug:backend>/harvest/": [
        _page(method="POST", kwargs=_backend, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS, nested=_backend_nested)
    ],
    # --- privacy pages ---------------------------------------------------------------------------
    "privacy/": [_page(allowed=EVERYONE)],
    "privacy/me/": [_page(allowed=EVERYONE)],
    "privacy/users/<str:username>/": [
        _page(kwargs=lambda w, s: {"username": "bob" if s is w.hr else "fred"}, allowed=frozenset({"admin"}))
    ],
    "privacy/datasets/<str:address>/": [_page(kwargs=_dataset, allowed=HR_MANAGERS)],
    "privacy/datasets/<str:address>/budget/": [
        _page(kwargs=_dataset, allowed=HR_MANAGERS),
        _page(
            method="POST",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            body=lambda w, s: {"epsilon_limit": "12", "delta_limit": "0.00001"},
        ),
    ],
    "privacy/datasets/<str:address>/policies/new/": [
        _page(kwargs=_dataset, allowed=HR_MANAGERS),
        _page(
            method="POST",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            body=_policy_fields(subject="group:analysts", scope="dataset"),
        ),
    ],
    "privacy/datasets/<str:address>/policies/<int:pk>/": [
        _page(kwargs=_policy, allowed=HR_MANAGERS, nested=_policy_nested)
    ],
    "privacy/datasets/<str:address>/policies/<int:pk>/edit/": [
        _page(kwargs=_policy, allowed=HR_MANAGERS, nested=_policy_nested),
        _page(
            method="POST",
            kwargs=_policy,
            allowed=HR_MANAGERS,
            nested=_policy_nested,
            body=_policy_fields(epsilon_budget="4"),
        ),
    ],
    "privacy/datasets/<str:address>/policies/<int:pk>/revoke/": [
        _page(kwargs=_policy, allowed=HR_MANAGERS, nested=_policy_nested),
        _page(
            method="POST",
            kwargs=_policy,
            allowed=HR_MANAGERS,
            nested=_policy_nested,
            body=lambda w, s: {"confirm": "revoke"},
        ),
    ],
    "privacy/requests/": [_page(allowed=EVERYONE)],
    "privacy/requests/new/": [
        _page(allowed=HR_VIEWERS, query={"dataset": "hr.census.adult"}),
        _page(
            method="POST",
            allowed=frozenset({"admin", "alice", "sam"}),
            refused={"bob": "409"},
            body=lambda w, s: {
                "dataset": s.dataset.address,
                "access_mode": "dp",
                "epsilon": "1",
                "delta": "0",
                "reason": "A study.",
            },
        ),
    ],
    "privacy/requests/<int:pk>/": [_page(kwargs=_pk("access_request"), allowed=frozenset({"admin", "alice", "bob"}))],
    "privacy/requests/<int:pk>/decide/": [
        _page(
            method="POST",
            kwargs=_pk("access_request"),
            allowed=HR_MANAGERS,
            body=lambda w, s: {"decision": "deny", "comment": "No."},
        ),
    ],
    "privacy/requests/<int:pk>/withdraw/": [
        _page(
            method="POST",
            kwargs=_pk("access_request"),
            allowed=frozenset({"bob"}),
            refused={"admin": "400", "alice": "400"},
        )
    ],
    # --- DP query pages --------------------------------------------------------------------------
    "queries/": [_page(allowed=EVERYONE)],
    "queries/preview/": [_page(method="POST", body=_query_body)],  # a refusal is part of the preview
    "queries/submit/": [
        _page(
            method="POST", allowed=frozenset({"bob"}), forbidden=frozenset({"admin", "alice", "sam"}), body=_query_body
        ),
    ],
    "queries/history/": [_page(allowed=EVERYONE)],
    "queries/<int:pk>/": [_page(kwargs=_pk("job"), allowed=frozenset({"bob"}), nested=_job_of_alice)],
    "queries/<int:pk>/cancel/": [
        _page(method="POST", kwargs=_pk("queued_job"), allowed=frozenset({"bob"}), nested=_job_of_alice)
    ],
    "queries/<int:pk>/result.csv": [_page(kwargs=_pk("job"), allowed=frozenset({"bob"}), nested=_job_of_alice)],
    # --- catalog API -----------------------------------------------------------------------------
    "api/v1/search/": [_api(allowed=EVERYONE, query={"q": "adult"})],
    "api/v1/domains/": [_api(allowed=EVERYONE)],
    "api/v1/domains/<slug:slug>/": [
        _api(kwargs=_slug),
        _api(
            method="PATCH",
            kwargs=_slug,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"description": "New words."},
        ),
    ],
    "api/v1/domains/<slug:slug>/products/": [
        _api(kwargs=_slug),
        _api(
            method="POST",
            kwargs=_slug,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"slug": "payroll", "name": "Payroll"},
        ),
    ],
    "api/v1/domains/<slug:slug>/products/<slug:product>/": [
        _api(kwargs=_slug_product, nested=_api_product_nested),
        _api(
            method="PATCH",
            kwargs=_slug_product,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            nested=_api_product_nested,
            body=lambda w, s: {"description": "New words."},
        ),
    ],
    "api/v1/products/": [_api(allowed=EVERYONE)],
    "api/v1/datasets/": [_api(allowed=EVERYONE)],
    "api/v1/datasets/<catalog_name:address>/": [
        _api(kwargs=_dataset),
        _api(
            method="PATCH",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"description": "New words."},
        ),
    ],
    "api/v1/datasets/<catalog_name:address>/columns/": [_api(kwargs=_dataset)],
    "api/v1/datasets/<catalog_name:address>/columns/<catalog_name:name>/": [
        _api(kwargs=_api_column, nested=_api_column_nested),
        _api(
            method="PATCH",
            kwargs=_api_column,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            nested=_api_column_nested,
            body=lambda w, s: {"description": "Years."},
        ),
    ],
    "api/v1/dcat/": [_api(allowed=EVERYONE)],
    # --- backends API ----------------------------------------------------------------------------
    "api/v1/backends/": [
        _api(allowed=EVERYONE),
        _api(
            method="POST",
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"domain": s.domain.slug, **_new_backend(w, s)},
        ),
    ],
    "api/v1/backends/<int:pk>/": [
        _api(kwargs=_pk("backend")),
        _api(
            method="PATCH",
            kwargs=_pk("backend"),
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"url": s.backend.url},
        ),
        _api(method="DELETE", kwargs=_pk("backend"), allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
    ],
    "api/v1/backends/<int:pk>/test-connection/": [
        _api(method="POST", kwargs=_pk("backend"), allowed=HR_MANAGERS, forbidden=HR_ANALYSTS)
    ],
    "api/v1/backends/<int:pk>/harvest/": [
        _api(method="POST", kwargs=_pk("backend"), allowed=HR_MANAGERS, forbidden=HR_ANALYSTS)
    ],
    "api/v1/backends/<int:pk>/harvest-runs/": [_api(kwargs=_pk("backend"))],
    "api/v1/harvest-runs/<int:pk>/": [_api(kwargs=_pk("harvest_run"))],
    # --- privacy API -----------------------------------------------------------------------------
    "api/v1/policies/": [
        _api(allowed=EVERYONE),
        _api(
            method="POST",
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {
                "scope": {"dataset": s.dataset.address},
                "user": "charlie",
                "access_mode": "dp",
                "epsilon_budget": "1",
            },
        ),
    ],
    "api/v1/policies/<int:pk>/": [
        _api(kwargs=_pk("policy"), allowed=frozenset({"admin", "alice", "bob"})),
        _api(
            method="PATCH",
            kwargs=_pk("policy"),
            allowed=HR_MANAGERS,
            forbidden=frozenset({"bob"}),
            body=lambda w, s: {"epsilon_budget": "4"},
        ),
        _api(method="DELETE", kwargs=_pk("policy"), allowed=HR_MANAGERS, forbidden=frozenset({"bob"})),
    ],
    "api/v1/budgets/": [_api(allowed=EVERYONE)],
    "api/v1/datasets/<catalog_name:address>/budget/": [
        _api(kwargs=_dataset, allowed=HR_MANAGERS, forbidden=HR_ANALYSTS),
        _api(
            method="PUT",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"epsilon_limit": "12", "delta_limit": "0.00001"},
        ),
    ],
    "api/v1/cost-preview/": [_api(method="POST", body=_cost_body)],
    "api/v1/reservations/": [
        _api(allowed=EVERYONE),
        _api(
            method="POST",
            allowed=frozenset({"bob"}),
            forbidden=frozenset({"admin", "alice", "sam"}),
            body=lambda w, s: {**_cost_body(w, s), "reference": "matrix"},
        ),
    ],
    "api/v1/reservations/<int:pk>/release/": [
        _api(method="POST", kwargs=_pk("reservation"), allowed=frozenset({"bob"}))
    ],
    "api/v1/access-requests/": [
        _api(allowed=EVERYONE),
        _api(
            method="POST",
            allowed=frozenset({"admin", "alice", "sam"}),
            refused={"bob": "409"},
            body=lambda w, s: {"dataset": s.dataset.address, "access_mode": "dp", "epsilon": "1", "reason": "A study."},
        ),
    ],
    "api/v1/access-requests/<int:pk>/": [
        _api(kwargs=_pk("access_request"), allowed=frozenset({"admin", "alice", "bob"}))
    ],
    "api/v1/access-requests/<int:pk>/approve/": [
        _api(
            method="POST",
            kwargs=_pk("access_request"),
            allowed=HR_MANAGERS,
            forbidden=frozenset({"bob"}),
            body=lambda w, s: {"epsilon_budget": "2"},
        ),
    ],
    "api/v1/access-requests/<int:pk>/deny/": [
        _api(
            method="POST",
            kwargs=_pk("access_request"),
            allowed=HR_MANAGERS,
            forbidden=frozenset({"bob"}),
            body=lambda w, s: {"comment": "No."},
        ),
    ],
    "api/v1/access-requests/<int:pk>/withdraw/": [
        _api(
            method="POST",
            kwargs=_pk("access_request"),
            allowed=frozenset({"bob"}),
            refused={"admin": "400", "alice": "400"},
        )
    ],
    # --- DP query API ----------------------------------------------------------------------------
    "api/v1/queries/": [
        _api(allowed=EVERYONE),
        _api(
            method="POST", allowed=frozenset({"bob"}), forbidden=frozenset({"admin", "alice", "sam"}), body=_query_body
        ),
    ],
    "api/v1/queries/preview/": [_api(method="POST", allowed=HR_VIEWERS, body=_query_body)],
    "api/v1/queries/<int:pk>/": [_api(kwargs=_pk("job"), allowed=frozenset({"bob"}), nested=_job_of_alice)],
    "api/v1/queries/<int:pk>/cancel/": [
        _api(method="POST", kwargs=_pk("queued_job"), allowed=frozenset({"bob"}), nested=_job_of_alice)
    ],
    "api/v1/queries/<int:pk>/result.csv": [_api(kwargs=_pk("job"), allowed=frozenset({"bob"}), nested=_job_of_alice)],
    # --- single sign-on (off in the tests: no provider configured) ------------------------------
    "oidc/authenticate/": [_page(public=True, allowed=frozenset(), refused=dict.fromkeys(ROLES, "404"))],
    "oidc/callback/": [_page(public=True, allowed=frozenset(), refused=dict.fromkeys(ROLES, "404"))],
    # --- synthetic data pages ----------------------------------------------------------------------
    "synth/": [_page(allowed=EVERYONE)],
    "synth/cost/": [_page(method="POST", body=_synth_form)],
    "synth/submit/": [
        _page(method="POST", allowed=HR_ANALYSTS, forbidden=HR_MANAGERS, body=_synth_form),
    ],
    "synth/history/": [_page(allowed=EVERYONE)],
    "synth/<int:pk>/": [_page(kwargs=_pk("synth_job"), allowed=SYNTH_JOB_READERS)],
    "synth/<int:pk>/cancel/": [
        _page(method="POST", kwargs=_pk("synth_job"), allowed=SYNTH_JOB_READERS),
    ],
    "synth/<int:pk>/sample.csv": [
        _page(kwargs=_pk("synth_job"), allowed=frozenset(), refused=NO_SAMPLE),
    ],
    "synth/<int:pk>/sample.parquet": [
        _page(kwargs=_pk("synth_job"), allowed=frozenset(), refused=NO_SAMPLE),
    ],
    "synth/datasets/<str:address>/preview/": [_page(kwargs=_dataset)],
    "synth/datasets/<str:address>/preview/refresh/": [
        _page(
            method="POST",
            kwargs=_dataset,
            allowed=HR_MANAGERS,
            forbidden=HR_ANALYSTS,
            body=lambda w, s: {"epsilon": "0.1"},
        ),
    ],
    # --- synthetic data API ------------------------------------------------------------------------
    "api/v1/synth/synthesizers/": [_api(allowed=EVERYONE)],
    "api/v1/synth/cost/": [_api(method="POST", body=_synth_body)],
    "api/v1/synth/jobs/": [
        _api(allowed=EVERYONE),
        _api(method="POST", allowed=HR_ANALYSTS, forbidden=HR_MANAGERS, body=_synth_body),
    ],
    "api/v1/synth/jobs/<int:pk>/": [_api(kwargs=_pk("synth_job"), allowed=SYNTH_JOB_READERS)],
    # Only its owner cancels a job (the world's has ended: 409); owners of the dataset see it, no more.
    "api/v1/synth/jobs/<int:pk>/cancel/": [
        _api(
            method="POST", kwargs=_pk("synth_job"), allowed=frozenset(), forbidden=HR_MANAGERS, refused={"bob": "409"}
        ),
    ],
    "api/v1/synth/jobs/<int:pk>/sample.csv": [
        _api(kwargs=_pk("synth_job"), allowed=frozenset(), refused=NO_SAMPLE),
    ],
    "api/v1/synth/jobs/<int:pk>/sample.parquet": [
        _api(kwargs=_pk("synth_job"), allowed=frozenset(), refused=NO_SAMPLE),
    ],
    "api/v1/synth/datasets/<str:address>/preview/": [_api(kwargs=_dataset)],
    # --- lineage -----------------------------------------------------------------------------------
    "lineage/": [_page(allowed=EVERYONE)],
    "lineage/datasets/<str:address>/": [_page(kwargs=_dataset)],
    "api/v1/lineage/graph/": [_api(allowed=HR_VIEWERS, query={"dataset": "hr.census.adult"})],
    # OpenLineage events name their datasets in the body; an empty event is refused before any lookup.
    "api/v1/^lineage/?$": [_api(method="POST", allowed=frozenset(), refused=dict.fromkeys(EVERYONE, "400"))],
    # --- usage and audit ---------------------------------------------------------------------------
    "usage/": [_page(allowed=EVERYONE)],
    "usage/audit/": [_page(allowed=HR_MANAGERS)],
    "usage/audit/export.csv": [_page(allowed=HR_MANAGERS)],
    "usage/d/<slug:domain>/": [_page(kwargs=_domain, allowed=HR_MANAGERS)],
    "usage/d/<slug:domain>/export.csv": [_page(kwargs=_domain, allowed=HR_MANAGERS)],
    "usage/d/<slug:domain>/<slug:product>/": [_page(kwargs=_product, allowed=HR_MANAGERS)],
    "usage/d/<slug:domain>/<slug:product>/export.csv": [_page(kwargs=_product, allowed=HR_MANAGERS)],
    "usage/datasets/<usage_address:address>/": [_page(kwargs=_dataset, allowed=HR_MANAGERS)],
    "usage/datasets/<usage_address:address>/export.csv": [_page(kwargs=_dataset, allowed=HR_MANAGERS)],
    "api/v1/audit/": [_api(allowed=HR_MANAGERS)],
    "api/v1/usage/domains/<slug:slug>/": [_api(kwargs=_slug, allowed=HR_MANAGERS)],
    "api/v1/usage/domains/<slug:slug>/products/<slug:product>/": [
        _api(kwargs=_slug_product, allowed=HR_MANAGERS, nested=_api_product_nested)
    ],
    "api/v1/usage/datasets/<usage_address:address>/": [_api(kwargs=_dataset, allowed=HR_MANAGERS)],
}
