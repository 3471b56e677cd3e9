"""The catalog pages as each person sees them: browse, dataset page, preview, charlie's 404s."""

import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.preview import PreviewRefused, dataset_preview
from apps.domains.models import Backend, Domain, Sensitivity
from tests.conftest import PASSWORD, client_for
from tests.factories import BackendFactory, ColumnFactory, DataProductFactory, DatasetFactory, DomainFactory

pytestmark = pytest.mark.django_db

# Values that exist only in the backend's rows: none of them may ever appear on a confidential page.
ROWS = [
    (1, 39, "Quokka-Whisperer", 918273645),
    (2, 50, "Theremin-Tuner", 827364519),
    (3, 28, "Zeppelin-Pilot", 736451928),
]
ROW_VALUES = ["Quokka-Whisperer", "Theremin-Tuner", "Zeppelin-Pilot", "918273645", "827364519", "736451928"]


def sqlite_backend_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE adult (person_id INTEGER, age INTEGER, occupation TEXT, fnlwgt INTEGER)")
        conn.executemany("INSERT INTO adult VALUES (?, ?, ?, ?)", ROWS)
    conn.close()
    return path


def adult_dataset(domain: Domain, path: Path, *, product: DataProduct | None = None) -> Dataset:
    """``<domain>.census.adult`` over a real SQLite file, with four documented columns."""
    backend = BackendFactory(domain=domain, slug="census", kind=Backend.Kind.SQLITE, url=str(path))
    dataset = DatasetFactory(
        domain=domain, backend=backend, product=product, table_name="adult", name="Adult census",
        address=f"{domain.slug}.census.adult", privacy_unit_column="person_id",
    )
    integer, string = Column.LogicalType.INTEGER, Column.LogicalType.STRING
    ColumnFactory(dataset=dataset, name="person_id", position=0, classification="identifier",
                  classification_confirmed=True)
    ColumnFactory(dataset=dataset, name="age", position=1, logical_type=integer, classification="quasi_identifier",
                  classification_confirmed=True, lower_bound=17, upper_bound=90, description="Age in *years*.")
    ColumnFactory(dataset=dataset, name="occupation", position=2, data_type="TEXT", logical_type=string,
                  classification="sensitive", categories=["Adm-clerical", "Craft-repair"])
    ColumnFactory(dataset=dataset, name="fnlwgt", position=3, classification="public", classification_confirmed=True)
    return dataset


@pytest.fixture
def hr_adult(hr: Domain, alice: User, tmp_path: Path) -> Dataset:
    product = DataProductFactory(domain=hr, slug="census", name="Census extract", description="The **census**.")
    product.owners.add(alice)
    return adult_dataset(hr, sqlite_backend_file(tmp_path / "hr.sqlite3"), product=product)


@pytest.fixture
def sales_adult(tmp_path: Path) -> Dataset:
    """The same rows, published by an open domain that every signed-in user sees."""
    sales = DomainFactory(slug="sales", name="Sales", sensitivity=Sensitivity.OPEN)
    return adult_dataset(sales, sqlite_backend_file(tmp_path / "sales.sqlite3"))


def hr_urls(dataset: Dataset) -> list[str]:
    column = dataset.columns.get(name="age")
    address = dataset.address
    return [
        reverse("catalog:domain", args=["hr"]),
        reverse("catalog:domain_about", args=["hr"]),
        reverse("catalog:domain_edit", args=["hr"]),
        reverse("catalog:product", args=["hr", "census"]),
        reverse("catalog:product_about", args=["hr", "census"]),
        reverse("catalog:product_edit", args=["hr", "census"]),
        reverse("catalog:dataset", args=[address]),
        reverse("catalog:dataset_about", args=[address]),
        reverse("catalog:dataset_edit", args=[address]),
        reverse("catalog:column", args=[address, column.pk]),
        reverse("catalog:column_edit", args=[address, column.pk]),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(hr_adult: Dataset) -> None:
    for url in [reverse("catalog:home"), *hr_urls(hr_adult)]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_the_login_page_logs_bob_in_and_lands_on_the_catalog(bob: User) -> None:
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'for="id_username"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_on_the_login_page(bob: User) -> None:
    response = Client().post(reverse("login"), {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_the_home_page_lists_the_domains_and_products_bob_sees(hr_adult: Dataset, bob: User) -> None:
    DomainFactory(slug="sales", name="Sales")
    body = client_for(bob).get(reverse("catalog:home")).content.decode()
    assert "Human Resources" in body and "Sales" in body
    assert "Census extract" in body
    assert reverse("catalog:domain", args=["hr"]) in body
    assert reverse("catalog:product", args=["hr", "census"]) in body
    assert "badge-confidential" in body and "badge-open" in body


def test_the_home_page_hides_the_hr_domain_from_charlie(hr_adult: Dataset, charlie: User) -> None:
    DomainFactory(slug="sales", name="Sales")
    body = client_for(charlie).get(reverse("catalog:home")).content.decode()
    assert "Sales" in body
    assert "Human Resources" not in body and "Census extract" not in body


@pytest.mark.parametrize("method", ["get", "post"])
def test_charlie_gets_404_on_every_hr_page_and_edit_endpoint(hr_adult: Dataset, charlie: User, method: str) -> None:
    client = client_for(charlie)
    for url in hr_urls(hr_adult):
        if method == "post" and not url.endswith("edit/"):
            continue
        response = getattr(client, method)(url, {"description": "mine now"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, url
        assert "Human Resources" not in response.content.decode()
    hr_adult.refresh_from_db()
    assert hr_adult.description == ""


def test_a_missing_dataset_is_a_404_like_an_invisible_one(bob: User) -> None:
    assert client_for(bob).get(reverse("catalog:dataset", args=["hr.census.nothing"])).status_code == 404


def test_bob_sees_the_hr_dataset_page_with_its_schema(hr_adult: Dataset, bob: User) -> None:
    response = client_for(bob).get(reverse("catalog:dataset", args=["hr.census.adult"]))
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("person_id", "age", "occupation", "fnlwgt"):
        assert f'<code class="colname">{name}</code>' in body
    assert "hr.census.adult" in body
    assert "Quasi-identifier" in body and "Identifier" in body and "Sensitive" in body
    assert "17 to 90" in body
    assert "Adm-clerical" in body and "Craft-repair" in body
    assert "suggested" in body
    assert "<em>years</em>" in body
    assert "Census extract" in body and "alice" in body
    assert "census" in body and "health-unknown" in body
    assert "privacy unit" in body


def test_bob_sees_no_edit_control_on_the_pages_of_hr(hr_adult: Dataset, bob: User) -> None:
    client = client_for(bob)
    for url in (
        reverse("catalog:dataset", args=["hr.census.adult"]),
        reverse("catalog:product", args=["hr", "census"]),
        reverse("catalog:domain", args=["hr"]),
    ):
        body = client.get(url).content.decode()
        assert "/edit/" not in body, url
        assert "Confirm" not in body, url


def test_alice_sees_the_edit_controls(hr_adult: Dataset, alice: User) -> None:
    body = client_for(alice).get(reverse("catalog:dataset", args=["hr.census.adult"])).content.decode()
    column = hr_adult.columns.get(name="age")
    assert reverse("catalog:column_edit", args=["hr.census.adult", column.pk]) in body
    assert reverse("catalog:dataset_edit", args=["hr.census.adult"]) in body
    assert "Confirm" in body


def test_the_domain_page_shows_products_datasets_and_the_backends_link(hr_adult: Dataset, bob: User) -> None:
    hr = hr_adult.domain
    hr.description = "People *data*."
    hr.save()
    response = client_for(bob).get(reverse("catalog:domain", args=["hr"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "People <em>data</em>." in body
    assert 'href="/domains/hr/backends/"' in body
    assert "Census extract" in body and "hr.census.adult" in body
    assert "alice" in body


def test_the_product_page_shows_owners_freshness_and_output_datasets(hr_adult: Dataset, bob: User) -> None:
    from datetime import timedelta

    DataProduct.objects.filter(pk=hr_adult.product_id).update(freshness_expectation=timedelta(days=7))
    response = client_for(bob).get(reverse("catalog:product", args=["hr", "census"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "The <strong>census</strong>." in body
    assert "7 days" in body
    assert "alice" in body
    assert reverse("catalog:dataset", args=["hr.census.adult"]) in body


def test_a_confidential_dataset_page_shows_no_data_value(hr_adult: Dataset, alice: User, bob: User) -> None:
    Dataset.objects.filter(pk=hr_adult.pk).update(row_count=3)
    for user in (alice, bob):
        body = client_for(user).get(reverse("catalog:dataset", args=["hr.census.adult"])).content.decode()
        for value in ROW_VALUES:
            assert value not in body
        assert "only differentially private access" in body.lower()
        assert "Rows</dt>" not in body


def test_an_open_dataset_page_previews_its_first_rows(sales_adult: Dataset, charlie: User) -> None:
    response = client_for(charlie).get(reverse("catalog:dataset", args=["sales.census.adult"]))
    body = response.content.decode()
    assert response.status_code == 200
    for value in ROW_VALUES:
        assert value in body
    assert "differentially private access" not in body


def test_the_preview_stops_at_the_configured_number_of_rows(sales_adult: Dataset, charlie: User, settings) -> None:
    settings.PORTAL_PREVIEW_ROWS = 1
    body = client_for(charlie).get(reverse("catalog:dataset", args=["sales.census.adult"])).content.decode()
    assert "Quokka-Whisperer" in body
    assert "Theremin-Tuner" not in body


def test_the_preview_refuses_a_confidential_dataset(hr_adult: Dataset, alice: User) -> None:
    with pytest.raises(PreviewRefused):
        dataset_preview(user=alice, dataset=hr_adult)


def test_the_preview_refuses_an_open_dataset_of_a_confidential_domain(hr_adult: Dataset, alice: User) -> None:
    Dataset.objects.filter(pk=hr_adult.pk).update(sensitivity=Sensitivity.OPEN)
    hr_adult.refresh_from_db()
    with pytest.raises(PreviewRefused):
        dataset_preview(user=alice, dataset=hr_adult)
    body = client_for(alice).get(reverse("catalog:dataset", args=["hr.census.adult"])).content.decode()
    assert "Quokka-Whisperer" not in body


def test_an_unreachable_backend_shows_its_message_instead_of_rows(sales_adult: Dataset, charlie: User) -> None:
    Backend.objects.filter(pk=sales_adult.backend_id).update(url="/nonexistent/sales.sqlite3")
    response = client_for(charlie).get(reverse("catalog:dataset", args=["sales.census.adult"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Preview unavailable" in body and "file not found" in body
    assert "Quokka-Whisperer" not in body


XSS = """# Title
<script>alert('x1')</script>
<img src=x onerror="alert('x2')">
[click](javascript:alert('x3'))
<a href="javascript:alert('x4')">link</a>
<iframe src="https://evil.example"></iframe>
<svg onload=alert('x5')></svg>
"""


class ActiveContent(HTMLParser):
    """Collects what a browser would run: script-like elements, event handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "svg", "object", "embed") and not self._is_portal_script(tag, attrs):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"{tag}[{name}={value}]")

    @staticmethod
    def _is_portal_script(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        # The portal's own script files, and data blocks (json_script) that a browser never runs.
        attributes = dict(attrs)
        return tag == "script" and (
            (attributes.get("src") or "").startswith("/static/") or attributes.get("type") == "application/json"
        )


def test_markdown_descriptions_render_harmless(hr_adult: Dataset, bob: User) -> None:
    Dataset.objects.filter(pk=hr_adult.pk).update(description=XSS)
    Domain.objects.filter(pk=hr_adult.domain_id).update(description=XSS)
    DataProduct.objects.filter(pk=hr_adult.product_id).update(description=XSS)
    Column.objects.filter(dataset=hr_adult, name="age").update(description=XSS)
    client = client_for(bob)
    for url in (
        reverse("catalog:dataset", args=["hr.census.adult"]),
        reverse("catalog:domain", args=["hr"]),
        reverse("catalog:product", args=["hr", "census"]),
    ):
        body = client.get(url).content.decode()
        assert "<h1>Title</h1>" in body, url
        parser = ActiveContent()
        parser.feed(body)
        assert parser.found == [], url


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page(hr_adult: Dataset) -> None:
    url = reverse("catalog:dataset_edit", args=["hr.census.adult"])
    response = Client().get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("login") + "?next=")


def test_a_removed_dataset_says_so_and_reads_no_rows(sales_adult: Dataset, charlie: User) -> None:
    from django.utils import timezone

    Dataset.objects.filter(pk=sales_adult.pk).update(removed_at=timezone.now())
    body = client_for(charlie).get(reverse("catalog:dataset", args=["sales.census.adult"])).content.decode()
    assert "no longer found this table" in body
    assert "Quokka-Whisperer" not in body
