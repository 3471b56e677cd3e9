"""Object permissions everywhere: every route of the project, for every role (see ``matrix.py``).

Each request runs in a savepoint that is rolled back afterwards, so every call sees the same world
(a deleted backend or a revoked policy is back for the next call) and nothing is sent to a broker.
"""

import copy
import functools
from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.matrix import ROUTES, Call
from tests.security.world import ROLES, World

pytestmark = pytest.mark.django_db

LOGIN_PREFIXES = ("/accounts/login/", "/admin/login/")
# Text that would betray a finance object to someone outside finance (or an hr object to charlie).
FINANCE_MARKERS = ("finance.ledger.payments", "finance-db", "Payments of the treasury")
HR_MARKERS = ("hr.census.adult", "Adults, ")  # the dataset's address, and its description


def route_patterns() -> Iterator[tuple[str, str, str]]:
    """(full pattern, namespaced name, regex) of every URL pattern of the project."""

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> Iterator[tuple[str, str, str]]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = (
                    f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
                )
                yield from walk(entry, prefix + str(entry.pattern), inner or "")
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
                yield prefix + str(entry.pattern), name, ""

    yield from walk(get_resolver(), "", "")


def _admin(pattern: str) -> bool:
    return pattern.startswith("admin/")


def test_every_route_of_the_project_is_in_the_matrix() -> None:
    missing = [pattern for pattern, _, _ in route_patterns() if not _admin(pattern) and pattern not in ROUTES]
    stale = sorted(set(ROUTES) - {pattern for pattern, _, _ in route_patterns()})

    assert not missing, (
        "These routes are not in the permission matrix; add each to ROUTES in tests/security/matrix.py with "
        "the roles that may use it (allowed / forbidden), its object in the hr and finance worlds, and any "
        f"nested object: {missing}"
    )
    assert not stale, f"ROUTES names routes that no longer exist; remove them: {stale}"


@functools.cache
def _names() -> dict[str, str]:
    return {pattern: name for pattern, name, _ in route_patterns()}


def _url(pattern: str, kwargs: dict) -> str:
    return reverse(_names()[pattern], kwargs=kwargs or None)


def _request(client: Client, call: Call, url: str, world: World, side: str) -> HttpResponse:
    data, content_type = call.data(world, getattr(world, side))
    method = getattr(client, call.method.lower())
    extra = {"content_type": content_type} if content_type else {}
    if call.query and call.method == "GET":
        data = call.query
    cookies = copy.deepcopy(client.cookies)  # a logout, rolled back, must not log the client out
    with transaction.atomic():
        response = method(url, data, **extra) if data is not None else method(url, **extra)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def _outcome(response: HttpResponse) -> str:
    status = response.status_code
    location = response.get("Location", "") or response.get("HX-Redirect", "")
    if status in (301, 302) and location.startswith(LOGIN_PREFIXES):
        return "login"
    if status == 401:
        return "login"
    if status < 400:
        return "ok"
    return str(status)


def _expected(call: Call, role: str) -> set[str]:
    if role in call.refused:
        return {call.refused[role]}
    if role == "anonymous":
        return {"ok", "login"} if call.public else {"login"}
    if role in call.allowed:
        return {"ok", "login"} if call.public else {"ok"}
    if role in call.forbidden:
        return {"403"}
    return {"404"}


def _leaks(response: HttpResponse, role: str, call: Call) -> list[str]:
    if response.status_code >= 300 or role == "admin" or not call.leak_check:
        return []
    content = b"".join(response.streaming_content) if response.streaming else response.content
    body = content.decode(errors="replace")
    markers = FINANCE_MARKERS + (HR_MARKERS if role in ("charlie", "anonymous") else ())
    return [marker for marker in markers if marker in body]


# The finance side is checked where it tells something: for bob (analyst of another group) on every
# call where he gets more than a 404 on the hr object, and for alice (owner of another domain) on the
# calls only owners get an answer to. (Admin sees every domain alike; for charlie every hr object is
# already foreign; sam is in bob's groups.) Nested objects are refused whoever asks: admin shows it
# is not a matter of rights, bob that an analyst cannot reach a job or a column through a parent he
# may see.
FOREIGN_CHECKED = ("alice", "bob")
# Every route is requested by every role at least once (its first call). Its further calls (another
# method, a write) are requested by sam, admin and anonymous only where the matrix expects an answer
# that differs from their twin's: sam is an analyst like bob, admin may do what an owner may, and an
# anonymous visitor is sent to the login page whatever the call.
LIKE = {"sam": "bob", "admin": "alice", "anonymous": "*"}
NESTED_CHECKED = ("admin", "bob")


def _check_role(world: World, role: str) -> list[str]:
    client = world.client(role)
    problems: list[str] = []

    def check(call: Call, url: str, side: str, want: set[str], label: str) -> None:
        response = _request(client, call, url, world, side)
        got = _outcome(response)
        if got not in want:
            problems.append(f"{call.method} {url} ({label}): {response.status_code}, expected {sorted(want)}")
        if response.status_code >= 500:
            problems.append(f"{call.method} {url} ({label}): server error")
        leaked = _leaks(response, role, call)
        if leaked:
            problems.append(f"{call.method} {url} ({label}): the answer names {leaked}")

    for pattern, calls in ROUTES.items():
        for index, call in enumerate(calls):
            twin = LIKE.get(role)
            if (
                index > 0
                and twin
                and not call.public
                and (twin == "*" or _expected(call, role) == _expected(call, twin))
            ):
                continue  # one call of the route is enough where this role is expected to answer like its twin
            # The hr object (or no object): the role's own answer, and nothing foreign in it.
            check(call, _url(pattern, call.kwargs(world, world.hr) if call.kwargs else {}), "hr",
                  _expected(call, role), "hr")  # fmt: skip
            if role == "anonymous":
                continue
            # The finance object: 404 for everyone outside finance.
            meaningful = call.foreign and (call.kwargs or call.body) and not call.public
            if role == "alice" and _expected(call, "bob") != {"404"}:
                meaningful = False  # bob's check covers the calls an analyst gets an answer to
            if meaningful and role in FOREIGN_CHECKED and _expected(call, role) != {"404"}:
                url = _url(pattern, call.kwargs(world, world.finance) if call.kwargs else {})
                check(call, url, "finance", {"404"}, "finance")
            # A child under another parent, or another user's job on a visible dataset: 404.
            if call.nested is not None and role in NESTED_CHECKED:
                check(call, _url(pattern, call.nested(world, role)), "hr", {"404"}, "nested")
    return problems


def test_every_route_answers_every_role_as_the_matrix_says(world: World) -> None:
    problems = {role: _check_role(world, role) for role in ROLES}

    report = "\n".join(f"{role}: {line}" for role, lines in problems.items() for line in lines)
    assert not report, "\n" + report


# --- the admin site ------------------------------------------------------------------------------


def _admin_object_id(name: str, world: World) -> str | None:
    """The pk of an object of the model a ``admin:<app>_<model>_<view>`` route is about."""
    for content_type in ContentType.objects.all():
        prefix = f"admin:{content_type.app_label}_{content_type.model}_"
        if name.startswith(prefix):
            model = content_type.model_class()
            obj = model.objects.order_by("pk").first() if model else None
            return str(obj.pk) if obj else None
    return None


def _admin_urls(world: World) -> list[str]:
    urls = []
    for pattern, name, _ in route_patterns():
        if (
            not _admin(pattern)
            or not name
            or name in ("admin:logout", "admin:view_on_site")
            or name.endswith("_history")
        ):
            continue
        if name == "admin:app_list":
            urls.append(reverse(name, kwargs={"app_label": "catalog"}))
        elif name == "admin:auth_user_password_change":
            urls.append(reverse(name, args=[world.users["bob"].pk]))
        elif "<path:object_id>" in pattern:
            object_id = _admin_object_id(name, world)
            if object_id is not None:
                urls.append(reverse(name, args=[object_id]))
        else:
            urls.append(reverse(name))
    return urls


def test_the_admin_site_is_for_staff_only(world: World) -> None:
    urls = _admin_urls(world)
    problems = []
    for role in ROLES:
        client = world.client(role)
        for url in urls:
            if role not in ("admin", "charlie", "anonymous") and url != urls[0]:
                continue  # alice, bob and sam: the index is enough, they are as non-staff as charlie
            response = _request(client, Call(), url, world, "hr")
            if role == "admin":
                # 403: an action the model's admin switches off (adding a query job by hand, …).
                if response.status_code >= 400 and response.status_code != 403:
                    problems.append(f"admin: GET {url}: {response.status_code}")
            elif url != reverse("admin:login"):
                location = response.get("Location", "")
                if response.status_code != 302 or not location.startswith("/admin/login/"):
                    problems.append(f"{role}: GET {url}: {response.status_code} {location}, expected the admin login")
    assert not problems, "\n" + "\n".join(problems)
