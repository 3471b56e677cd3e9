"""Hostile bodies thrown at every write endpoint, as an owner (so they reach validation):
always a 4xx with a JSON message, never a 500, and nothing in the catalog changes."""

import json
from typing import Any

import pytest

from apps.accounts.models import User
from apps.domains.models import Domain
from tests.catalog.test_api_fixtures import Mesh, build_mesh, catalog_state
from tests.conftest import client_for

API = "/api/v1"
ENDPOINTS = [
    ("patch", f"{API}/domains/hr/"),
    ("post", f"{API}/domains/hr/products/"),
    ("patch", f"{API}/domains/hr/products/census/"),
    ("patch", f"{API}/datasets/hr.census.adult/"),
    ("patch", f"{API}/datasets/hr.census.adult/columns/age/"),
    ("patch", f"{API}/datasets/hr.census.adult/columns/workclass/"),
]

RAW_BODIES: list[bytes] = [
    b"{",
    b"not json",
    b"{'description': 'single quotes'}",
    b'{"description": "x",}',
    b'{"lower_bound": NaN, "upper_bound": 1}',
    b'{"lower_bound": -Infinity, "upper_bound": Infinity}',
    b'{"freshness_hours": NaN}',
    b'{"max_rows_per_unit": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"description": ' + b"[" * 500 + b"]" * 500 + b"}",
    b'{"description": "\xff\xfe invalid utf-8"}',
    b'\xef\xbb\xbf{"description": "BOM"}',
    b'{"description": "lone \\ud800 surrogate"}',
    b'{"lower_bound": "\\udfff", "upper_bound": 1}',
    b'{"\\ud800": 1}',
    b'{"description": "nul \\u0000 inside"}',
    b'{"tags": ["nul\\u0000"]}',
    b'{"categories": ["\\u0000"], "slug": "\\u0000"}',
    b'{"lower_bound": 1e400, "upper_bound": 1e401}',
    b'{"max_rows_per_unit": ' + b"9" * 5000 + b"}",
    b'{"freshness_hours": ' + b"9" * 4000 + b"}",
    b'{"lower_bound": ' + b"9" * 4000 + b', "upper_bound": 1}',
    b'{"description": "' + b"x" * 3_000_000 + b'"}',
    b"[]",
    b"null",
    b"true",
    b"42",
    b'"a string"',
    b"",
]

JSON_BODIES: list[Any] = [
    {"description": 42},
    {"description": None},
    {"description": ["x"]},
    {"description": {"$gt": ""}},
    {"description": "x" * 200_000},
    {"name": "x" * 300, "slug": "y" * 64},
    {"sensitivity": "cönfidential\u200b"},
    {"sensitivity": 1},
    {"sensitivity": None},
    {"tags": "a,b"},
    {"tags": [1, 2]},
    {"tags": [{"a": 1}]},
    {"tags": ["\u202e\u0301"]},
    {"tags": ["ok"] * 20_000},
    {"lower_bound": True, "upper_bound": False},
    {"lower_bound": [1], "upper_bound": {"x": 1}},
    {"lower_bound": "NaN", "upper_bound": "NaN"},
    {"lower_bound": "-inf", "upper_bound": "inf"},
    {"lower_bound": "1e19", "upper_bound": "1e20"},
    {"lower_bound": "1" * 200, "upper_bound": "2"},
    {"lower_bound": "١٢", "upper_bound": "٣"},
    {"categories": {"a": 1}},
    {"categories": ["a", "a"]},
    {"categories": ["x" * 300]},
    {"categories": [str(i) for i in range(1001)]},
    {"max_rows_per_unit": -1},
    {"max_rows_per_unit": "1e9"},
    {"max_rows_per_unit": 10**30},
    {"max_rows_per_unit": True},
    {"privacy_unit_column": "no_such_column"},
    {"product": 5},
    {"product": "ghost"},
    {"product": {"slug": "census"}},
    {"visible_to_groups": ["nope"]},
    {"visible_to_groups": "analysts"},
    {"visible_to_groups": [None]},
    {"owners": ["ghost"]},
    {"owners": "alice"},
    {"status": "exploded"},
    {"freshness_hours": "NaN"},
    {"freshness_hours": "1e400"},
    {"freshness_hours": [1]},
    {"classification": "identifier\u0000"},
    {"classification": ["identifier"]},
    {"slug": "", "name": "x"},
    {"slug": "census"},
    {"slug": "\U0001f600"},
    {"unknown_field": 1},
    {"description": "\u202e reversed", "nope": True},
    {"description": "fine", "lower_bound": 5, "upper_bound": 1},
    {"__proto__": {"admin": True}},
]

FORM_BODIES = [
    ("application/x-www-form-urlencoded", b"description=form"),
    (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="description"\r\n\r\nx\r\n--xyz--',
    ),
    ("text/plain", b'{"description": "plain"}'),
    ("application/json; charset=bogus", b'{"description": "bogus charset", "zz": 1}'),
    ("application/json; charset=utf-16", b'{"description": "utf-8 said to be utf-16"}'),
    ("application/xml", b"<description>x</description>"),
]

CASES = (
    [("application/json", raw) for raw in RAW_BODIES]
    + [("application/json", json.dumps(body).encode()) for body in JSON_BODIES]
    + FORM_BODIES
)


@pytest.fixture
def mesh(hr: Domain, alice: User) -> Mesh:
    return build_mesh(hr=hr, alice=alice)


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_a_corpus_of_bad_bodies_never_gives_a_500_and_changes_nothing(
    mesh: Mesh, alice: User, method: str, url: str
) -> None:
    client = client_for(alice)
    before = catalog_state()
    outcomes = []
    for content_type, body in CASES:
        response = client.generic(method.upper(), url, data=body, content_type=content_type)
        answer = response.json() if response.status_code < 500 else {}
        outcomes.append((response.status_code, body[:60], "message" in answer))
    wrong = [outcome for outcome in outcomes if not 400 <= outcome[0] < 500 or not outcome[2]]
    assert wrong == []
    assert catalog_state() == before
