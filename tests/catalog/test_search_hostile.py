"""The hostile-input corpus of the search (shared by the API and page tests), run on the selector."""

import pytest

from apps.catalog.search import catalog_search
from tests.catalog.test_search_mesh import build_mesh

HOSTILE_QUERIES = [
    "'", '"', "\\", "\\'", "''", "a'b", "adult' OR '1'='1", "'; DROP TABLE catalog_dataset; --",
    "&", "|", "!", "(", ")", ":", "*", ":*", "&|!():*", "adult & | census", "!adult", "adult:*:*", "(adult",
    "adult)", "<->", "adult <-> census", "adult <2> census", "'adult':A", "adult:ABCD*",
    "a" * 10_000, "adult " * 2_000, "x" * 3_000 + " adult",
    "\x00", "adult\x00census", "\x00' OR 1=1 --", "\x01\x02\x1f\x7f",
    "%", "_", "%%", "\\%", "%_%", "adult%", "[a-z]", "^$", ".*",
    "\u202eadult", "\u200b", "\ufeffadult", "\u0000\u200d", "\U0001d552\U0001d555\U0001d566\U0001d55d\U0001d565",
    "😀", "👨‍👩‍👧", "\uff21\uff44\uff55\uff4c\uff54", "İstanbul", "ß",
    "ﬁ", "e\u0301", "Z̵̡̛a̷l̸g̶o̷", "日本語 データ", "العربية", "עברית", "\U0010ffff", "\ufffd",
    "   ", "\t\n\r", "null", "None", "undefined", "[]", "{}", '{"$where": 1}', "%00", "%27",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}", "{{ 7*7 }}", "{% debug %}", "\r\nSet-Cookie: x=1",
]

HOSTILE_RAW_QUERY_STRINGS = [
    "q=%ff%fe", "q=%ED%A0%80", "q=%C0%80", "q=%00", "domain=%00&tag=%ff&owner=%ED%A0%80&sensitivity=%00",
    "q=adult&q=census", "q", "q=&&&", "q=%", "q=%%25", "tag=" + "t" * 5_000, "domain=" + "&domain=x" * 200,
]


@pytest.mark.django_db
def test_the_selector_answers_every_hostile_query(hr, bob):
    build_mesh(hr)
    for query in [*HOSTILE_QUERIES, "\ud800", "adult\udfff"]:
        result = catalog_search(user=bob, query=query, domains=[query], tags=[query], owners=[query])
        assert result.total == len(result.datasets)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["\ufeffadult", "\u202eadult\u202c", "adult\x00", "'adult':*", "(adult)", "ADULT!"])
def test_the_words_inside_hostile_text_are_still_found(hr, bob, query):
    build_mesh(hr)
    assert catalog_search(user=bob, query=query).datasets[0].address == "hr.census.adult"
