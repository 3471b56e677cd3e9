"""The catalog as DCAT-AP JSON-LD, for other portals. Pure: it only ever sees catalog metadata.

Distributions point at the portal (its dataset page and API), never at a backend: the rows of a
confidential dataset never leave its domain, so the only way to them is the portal's DP access.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.catalog.models import Dataset
from apps.domains.models import Domain

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
}
ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/"
OPEN_NOTE = "Open: signed-in users of the portal who can see the domain see its metadata and a preview of its rows."
CONFIDENTIAL_NOTE = (
    "Non-public: the rows never leave the domain. Only differentially private access (DP queries and "
    "synthetic data) is possible, through the portal."
)


@dataclass(frozen=True)
class DcatUrls:
    """How the portal names things: absolute URLs, built by the caller from the request."""

    catalog: str
    dataset_page: Callable[[Dataset], str]
    dataset_api: Callable[[Dataset], str]
    domain_page: Callable[[Domain], str]


def _datetime(value: datetime) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"}


def _access_rights(dataset: Dataset) -> dict[str, Any]:
    if dataset.is_confidential:
        return {"@id": f"{ACCESS_RIGHTS}NON_PUBLIC", "@type": "dct:RightsStatement", "rdfs:label": CONFIDENTIAL_NOTE}
    return {"@id": f"{ACCESS_RIGHTS}PUBLIC", "@type": "dct:RightsStatement", "rdfs:label": OPEN_NOTE}


def _publisher(domain: Domain, urls: DcatUrls) -> dict[str, Any]:
    return {"@id": urls.domain_page(domain), "@type": "foaf:Organization", "foaf:name": domain.name}


def _contact_points(dataset: Dataset) -> list[dict[str, Any]]:
    people = {user.pk: user for user in dataset.domain.owners.all()}
    if dataset.product is not None:
        people.update({user.pk: user for user in dataset.product.owners.all()})
    points = []
    for user in sorted(people.values(), key=lambda u: u.username):
        point: dict[str, Any] = {"@type": "vcard:Individual", "vcard:fn": user.get_full_name() or str(user)}
        if user.email:
            point["vcard:hasEmail"] = {"@id": f"mailto:{user.email}"}
        points.append(point)
    return points


def _distribution(dataset: Dataset, urls: DcatUrls) -> dict[str, Any]:
    api = urls.dataset_api(dataset)
    return {
        "@id": f"{api}#distribution",
        "@type": "dcat:Distribution",
        "dct:title": f"{dataset.address} through the portal",
        "dcat:accessURL": {"@id": api},
        "dcat:mediaType": "application/json",
        "dct:accessRights": _access_rights(dataset),
    }


def dataset_jsonld(dataset: Dataset, urls: DcatUrls) -> dict[str, Any]:
    page = urls.dataset_page(dataset)
    return {
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.address,
        "dct:title": dataset.name,
        "dct:description": dataset.description,
        "dcat:keyword": sorted(tag.name for tag in dataset.tags.all()),
        "dct:publisher": _publisher(dataset.domain, urls),
        "dct:accessRights": _access_rights(dataset),
        "dcat:contactPoint": _contact_points(dataset),
        "dcat:landingPage": {"@id": page},
        "dct:issued": _datetime(dataset.created_at),
        "dct:modified": _datetime(dataset.updated_at),
        "dcat:distribution": [_distribution(dataset, urls)],
    }


def catalog_jsonld(*, datasets: Iterable[Dataset], urls: DcatUrls, title: str) -> dict[str, Any]:
    """A ``dcat:Catalog`` of the given datasets (the caller passes only what the user may see)."""
    nodes = [dataset_jsonld(dataset, urls) for dataset in datasets]
    return {
        "@context": CONTEXT,
        "@id": urls.catalog,
        "@type": "dcat:Catalog",
        "dct:title": title,
        "dct:description": "Metadata of the data products of a confidential data mesh.",
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": title},
        "dcat:dataset": nodes,
    }
