"""Catalog descriptions are Markdown rendered through a sanitizer: a corpus of classic XSS payloads
must come out harmless. The output is parsed with an HTML parser (the way a browser tokenizes it),
not searched for substrings: every element must be an allowed one, no attribute may run code or
carry a style, and every link must point to http(s), mailto or a relative address."""

import html
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from apps.catalog.models import Dataset
from apps.core.markdown import render_markdown
from apps.domains.models import Domain
from tests.conftest import client_for
from tests.factories import DatasetFactory

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"href", "title", "align", "rel"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "data", "srcset"}
SAFE_SCHEMES = {"", "http", "https", "mailto"}

CORPUS = [
    # script elements, plain and disguised
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script/xss src=//evil.example/x.js></script>",
    "<<script>alert(1);//<</script>",
    "<script>alert(1)",
    # event handlers
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<body onload=alert(1)>",
    "<div onmouseover='alert(1)'>hover</div>",
    '<a href="https://ok.example" onclick="alert(1)">click</a>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    # javascript:, vbscript: and data: URLs, obfuscated
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">go</button>',
    # SVG and MathML
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    # styles, meta, base, templates
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<span style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</span>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<template><script>alert(1)</script></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    # nested and malformed markup, comments, CDATA
    '<a href="https://ok.example"><a href="javascript:alert(1)">nested</a></a>',
    "<div><p><b><i><script>alert(1)</script></i></b></p></div>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<img """><script>alert(1)</script>">',
    "<a href='https://ok.example' title='x' onmouseover=alert(1) x='>y</a>",
    "<p>unclosed <b>bold <i>italic <script>alert(1)",
    # Markdown's own links and images
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](  javascript:alert(1)  )",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '[click](https://ok.example "title\\" onmouseover=\\"alert(1))',
    "![img](javascript:alert(1))",
    '![img](x" onerror="alert(1))',
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[a]: javascript:alert(1)\n\n[link][a]",
    "<javascript:alert(1)>",
    "[x](<javascript:alert(1)>)",
    "```\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |",
]


class _Tokens(HTMLParser):
    """Every start tag with its attributes, and the text of the document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _scheme(url: str) -> str:
    # Browsers drop ASCII whitespace and control characters before reading a URL's scheme.
    cleaned = re.sub(r"[\x00-\x20]", "", html.unescape(url))
    return urlsplit(cleaned).scheme.lower() if ":" in cleaned.split("/")[0] else ""


def harm_in(rendered: str) -> list[str]:
    """What in ``rendered`` a browser could run, style or navigate to; empty when harmless."""
    parser = _Tokens()
    parser.feed(rendered)
    parser.close()
    problems = []
    for tag, attrs in parser.elements:
        if tag not in ALLOWED_TAGS:
            problems.append(f"element <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{tag}>")
            elif name == "style":
                problems.append(f"style attribute on <{tag}>")
            elif name not in ALLOWED_ATTRIBUTES:
                problems.append(f"attribute {name} on <{tag}>")
            if name in URL_ATTRIBUTES and _scheme(value or "") not in SAFE_SCHEMES:
                problems.append(f"{name}={value!r} on <{tag}>")
    return problems


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_the_markdown_renderer_leaves_nothing_a_browser_could_run(payload: str) -> None:
    rendered = render_markdown(payload)

    assert harm_in(rendered) == [], rendered


def test_the_checker_itself_finds_what_an_unsanitized_renderer_would_let_through() -> None:
    """Guards the guard: the same corpus rendered by Markdown alone, unsanitized, is flagged."""
    import markdown

    flagged = [payload for payload in CORPUS if harm_in(markdown.markdown(payload))]

    assert len(flagged) >= len(CORPUS) // 2


def test_links_keep_working_and_open_without_referrer() -> None:
    rendered = render_markdown("See [the docs](https://docs.example.org/x?a=1&b=2) or <mailto:dp@example.org>.")
    parser = _Tokens()
    parser.feed(rendered)
    links = [dict(attrs) for tag, attrs in parser.elements if tag == "a"]

    assert links[0]["href"] == "https://docs.example.org/x?a=1&b=2"
    assert "noopener" in links[0]["rel"] and "noreferrer" in links[0]["rel"]
    assert harm_in(rendered) == []


@pytest.mark.django_db
def test_a_dataset_page_shows_a_hostile_description_as_harmless_html(hr: Domain, bob) -> None:
    hostile = "\n\n".join(CORPUS)
    dataset: Dataset = DatasetFactory(domain=hr, address="hr.census.adult", description=hostile)

    page = client_for(bob).get(f"/datasets/{dataset.address}/")

    assert page.status_code == 200
    parser = _Tokens()
    parser.feed(page.content.decode())
    scripts = [dict(attrs) for tag, attrs in parser.elements if tag == "script"]
    # Scripts come from static files; a script element without src is a JSON data block (json_script).
    assert scripts and all(
        s.get("src", "").startswith("/static/") or (not s.get("src") and s.get("type") == "application/json")
        for s in scripts
    ), scripts
    assert not [tag for tag, attrs in parser.elements if any(name.startswith("on") for name, _ in attrs)]
    assert not [tag for tag, attrs in parser.elements if any(name == "style" for name, _ in attrs)]
    assert not [tag for tag, _ in parser.elements if tag in {"iframe", "object", "embed", "svg", "img", "base"}]
    hrefs = [dict(attrs).get("href") or "" for tag, attrs in parser.elements if tag == "a"]
    assert all(_scheme(href) in SAFE_SCHEMES for href in hrefs), hrefs
