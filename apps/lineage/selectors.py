"""Reading lineage: the graph around a dataset, as a viewer may see it.

Edges come from two places: the ``Edge`` rows recorded from OpenLineage events, and the catalog's
own ``Dataset.derived_from`` (a synthetic sample and its source), read here so they never disagree.

What a viewer may see: catalog datasets in a domain they cannot see (``visible_domains``), and
synthetic samples they may not read, are never nodes of their own: each shown node with such
neighbours gets one anonymous ``hidden datasets`` marker per side (no name, count, domain, job or
columns); the walk stops there, so nothing beyond them is reached through them. External placeholders are shown by their
OpenLineage namespace and name, and only as neighbours of what the viewer sees.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.http import Http404
from django.urls import reverse

from apps.catalog.models import Column, Dataset
from apps.catalog.selectors import dataset_get_for, dataset_list_for
from apps.domains.permissions import hidden_synthetic_ids, visible_domains
from apps.lineage.models import ColumnEdge, Edge, LineageNode

MAX_DEPTH = 5
MAX_NODES = 300
SYNTHESIS_JOB = "portal/synthesis"


@dataclass(frozen=True)
class GraphOptions:
    up: int = 1
    down: int = 1
    domain: str = ""
    tag: str = ""
    columns: bool = False


@dataclass
class _Link:
    source: str
    target: str
    job: str
    origin: str


@dataclass
class Graph:
    center: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    column_edges: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    options: GraphOptions = field(default_factory=GraphOptions)
    center_dataset: Dataset | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "up": self.options.up,
            "down": self.options.down,
            "filters": {"domain": self.options.domain, "tag": self.options.tag},
            "nodes": self.nodes,
            "edges": self.edges,
            "column_edges": self.column_edges,
            "truncated": self.truncated,
        }

    def edge_rows(self) -> list[dict[str, Any]]:
        """The edges with their two nodes, for the plain table."""
        by_id = {node["id"]: node for node in self.nodes}
        return [{**edge, "source_node": by_id[edge["source"]], "target_node": by_id[edge["target"]]}
                for edge in self.edges]

    def column_rows(self) -> list[dict[str, Any]]:
        by_id = {node["id"]: node for node in self.nodes}
        return [{**edge, "source_node": by_id[edge["source"]], "target_node": by_id[edge["target"]]}
                for edge in self.column_edges if edge["source"] in by_id and edge["target"] in by_id]


def _key_of(node: LineageNode) -> str:
    return f"d{node.dataset_id}" if node.dataset_id is not None else f"x{node.pk}"


class _Walker:
    """Loads the neighbourhood hop by hop, remembering datasets and placeholders it met."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.visible_domain_ids = set(visible_domains(user).values_list("pk", flat=True))
        self.datasets: dict[int, Dataset] = {}
        self.externals: dict[int, LineageNode] = {}
        self.unreadable: set[int] = set()  # synthetic samples the user may not read

    def visible(self, key: str) -> bool:
        if key.startswith("x"):
            return True
        dataset = self.datasets.get(int(key[1:]))
        return (
            dataset is not None and dataset.domain_id in self.visible_domain_ids and dataset.pk not in self.unreadable
        )

    def _load_datasets(self, ids: set[int]) -> None:
        missing = ids - set(self.datasets)
        if missing:
            loaded = Dataset.objects.filter(pk__in=missing).select_related("domain").prefetch_related("tags")
            for dataset in loaded:
                self.datasets[dataset.pk] = dataset
            samples = Dataset.objects.filter(pk__in=missing, kind=Dataset.Kind.SYNTHETIC)
            self.unreadable |= set(hidden_synthetic_ids(self.user, samples))

    def links(self, keys: set[str], upstream: bool) -> list[_Link]:
        dataset_ids = {int(k[1:]) for k in keys if k.startswith("d")}
        external_ids = {int(k[1:]) for k in keys if k.startswith("x")}
        end = "target" if upstream else "source"
        rule = Q(**{f"{end}__dataset_id__in": dataset_ids}) | Q(**{f"{end}_id__in": external_ids})
        found: list[_Link] = []
        rows = Edge.objects.filter(rule).select_related("source", "target", "job").order_by("pk")[: MAX_NODES * 4]
        for edge in rows:
            for node in (edge.source, edge.target):
                if node.dataset_id is None:
                    self.externals[node.pk] = node
            found.append(_Link(_key_of(edge.source), _key_of(edge.target), str(edge.job), edge.origin))
        if dataset_ids:
            if upstream:
                derived = Dataset.objects.filter(pk__in=dataset_ids, derived_from__isnull=False)
                pairs = derived.values_list("derived_from_id", "pk")
            else:
                pairs = Dataset.objects.filter(derived_from_id__in=dataset_ids).values_list("derived_from_id", "pk")
            found += [_Link(f"d{src}", f"d{dst}", SYNTHESIS_JOB, "synthesis") for src, dst in pairs[: MAX_NODES]]
        self._load_datasets({int(k[1:]) for link in found for k in (link.source, link.target) if k.startswith("d")})
        return found


def _walk(walker: _Walker, center: str, options: GraphOptions) -> tuple[dict[str, tuple[int, str]], list[_Link], bool]:
    """BFS up and down from ``center``; returns node → (hop, direction), the links, and truncation."""
    placed: dict[str, tuple[int, str]] = {center: (0, "center")}
    links: dict[tuple[str, str, str], _Link] = {}
    truncated = False
    for upstream, depth in ((True, options.up), (False, options.down)):
        frontier = {center}
        for hop in range(1, depth + 1):
            expandable = {key for key in frontier if walker.visible(key)}
            if not expandable:
                break
            next_frontier: set[str] = set()
            for link in walker.links(expandable, upstream):
                near, far = (link.target, link.source) if upstream else (link.source, link.target)
                if near not in expandable:
                    continue
                if far not in placed:
                    if len(placed) >= MAX_NODES:
                        truncated = True
                        continue
                    placed[far] = (hop, "up" if upstream else "down")
                    next_frontier.add(far)
                links[(link.source, link.target, link.job)] = link
            frontier = next_frontier
    return placed, list(links.values()), truncated


def _matches(dataset: Dataset, options: GraphOptions) -> bool:
    if options.domain and dataset.domain.slug != options.domain:
        return False
    return not (options.tag and options.tag not in {tag.name for tag in dataset.tags.all()})


def _dataset_json(dataset: Dataset, key: str, hop: int, direction: str) -> dict[str, Any]:
    return {
        "id": key,
        "kind": "synthetic" if dataset.kind == Dataset.Kind.SYNTHETIC else "dataset",
        "label": dataset.name,
        "address": dataset.address,
        "domain": dataset.domain.slug,
        "domain_name": dataset.domain.name,
        "sensitivity": dataset.sensitivity,
        "tags": sorted(tag.name for tag in dataset.tags.all()),
        "removed": dataset.removed_at is not None,
        "url": reverse("catalog:dataset", args=[dataset.address]),
        "graph_url": reverse("lineage:dataset", args=[dataset.address]),
        "hop": hop,
        "direction": direction,
        "expandable": True,
    }


def _external_json(node: LineageNode, key: str, hop: int, direction: str) -> dict[str, Any]:
    return {
        "id": key, "kind": "external", "label": node.name, "namespace": node.namespace, "address": "",
        "hop": hop, "direction": direction, "expandable": True,
    }


def _build(walker: _Walker, center: str, options: GraphOptions) -> Graph:
    placed, links, truncated = _walk(walker, center, options)
    graph = Graph(center=center, truncated=truncated, options=options)
    filtering = bool(options.domain or options.tag)
    shown: set[str] = set()
    hidden_keys: set[str] = set()
    for key, (hop, direction) in placed.items():
        if key.startswith("x"):
            if filtering and key != center:
                continue
            graph.nodes.append(_external_json(walker.externals[int(key[1:])], key, hop, direction))
            shown.add(key)
        elif walker.visible(key):
            dataset = walker.datasets[int(key[1:])]
            if filtering and key != center and not _matches(dataset, options):
                continue
            graph.nodes.append(_dataset_json(dataset, key, hop, direction))
            shown.add(key)
        else:
            hidden_keys.add(key)
    markers: dict[tuple[str, str], str] = {}
    number = 0
    for link in links:
        if link.source in shown and link.target in shown:
            number += 1  # among shown edges only: a gap would tell that an edge was left out
            graph.edges.append({"id": f"e{number}", "source": link.source, "target": link.target,
                                "job": link.job, "origin": link.origin})
        elif not filtering:
            _mark_hidden(graph, link, shown, hidden_keys, placed, markers)
    if options.columns:
        graph.column_edges = _column_edges(graph, shown)
    return graph


def _mark_hidden(graph: Graph, link: _Link, shown: set[str], hidden_keys: set[str],
                 placed: dict[str, tuple[int, str]], markers: dict[tuple[str, str], str]) -> None:
    """What a viewer learns of datasets they may not see: that a node they see has at least one
    upstream (or downstream) neighbour they may not see. One anonymous marker per node and side, so
    neither how many there are, nor which of them feed several shown nodes, nor their jobs or kinds
    (a synthetic sample's ``synthesis`` origin) are told."""
    if link.source in hidden_keys and link.target in shown:
        near, side = link.target, "up"
    elif link.target in hidden_keys and link.source in shown:
        near, side = link.source, "down"
    else:
        return
    if (near, side) in markers:
        return
    marker = markers[(near, side)] = f"h{len(markers) + 1}"
    graph.nodes.append({"id": marker, "kind": "hidden", "label": "hidden datasets", "address": "",
                        "hop": placed[near][0] + 1, "direction": side, "expandable": False})
    source, target = (marker, near) if side == "up" else (near, marker)
    graph.edges.append({"id": f"e-{marker}", "source": source, "target": target, "job": "", "origin": "hidden"})


def _column_edges(graph: Graph, shown: set[str]) -> list[dict[str, Any]]:
    node_ids = list(
        LineageNode.objects.filter(
            Q(dataset_id__in=[int(k[1:]) for k in shown if k.startswith("d")])
            | Q(pk__in=[int(k[1:]) for k in shown if k.startswith("x")])
        ).values_list("pk", flat=True)
    )
    rows = (
        ColumnEdge.objects.filter(source_id__in=node_ids, target_id__in=node_ids)
        .select_related("source", "target", "job")
        .order_by("target_id", "target_field", "pk")[:2000]
    )
    result = [
        {
            "source": _key_of(row.source), "source_field": row.source_field,
            "target": _key_of(row.target), "target_field": row.target_field,
            "transformation": row.transformation, "job": str(row.job),
        }
        for row in rows
    ]
    # A synthetic sample has its source's columns, one for one. Only between datasets shown by name:
    # a sample the viewer may not read is a hidden node (``h…``) and has no columns here.
    pairs = [(edge["source"], edge["target"]) for edge in graph.edges
             if edge["origin"] == "synthesis" and edge["source"].startswith("d") and edge["target"].startswith("d")]
    columns: dict[int, list[str]] = {}
    ids = {int(key[1:]) for pair in pairs for key in pair}
    live = Column.objects.filter(dataset_id__in=ids, removed_at__isnull=True)
    for dataset_id, name in live.order_by("dataset_id", "position", "name").values_list("dataset_id", "name"):
        columns.setdefault(dataset_id, []).append(name)
    for source, target in pairs:
        target_columns = set(columns.get(int(target[1:]), []))
        result += [{"source": source, "source_field": name, "target": target, "target_field": name,
                    "transformation": "DP synthesis", "job": SYNTHESIS_JOB}
                   for name in columns.get(int(source[1:]), []) if name in target_columns]
    return result


def lineage_graph_for(*, user: Any, address: str | None = None, node: str | None = None,
                      options: GraphOptions | None = None) -> Graph:
    """The graph around a dataset (by address) or a placeholder (``x<id>``); 404 for what the user
    cannot see, and for a placeholder not next to anything they can see."""
    options = options or GraphOptions()
    walker = _Walker(user)
    if address is not None:
        dataset = dataset_get_for(user=user, address=address)
        walker.datasets[dataset.pk] = dataset
        graph = _build(walker, f"d{dataset.pk}", options)
        graph.center_dataset = dataset
        return graph
    if node is None or not node.startswith("x") or not node[1:].isdigit() or len(node) > 20:
        raise Http404("Not found.")
    placeholder = LineageNode.objects.filter(pk=int(node[1:]), dataset__isnull=True).first()
    if placeholder is None:
        raise Http404("Not found.")
    walker.externals[placeholder.pk] = placeholder
    graph = _build(walker, node, options)
    if not any(n["kind"] in ("dataset", "synthetic") for n in graph.nodes):
        neighbours = _build(walker, node, GraphOptions(up=1, down=1))
        if not any(n["kind"] in ("dataset", "synthetic") for n in neighbours.nodes):
            raise Http404("Not found.")
    return graph


def lineage_datasets_for(*, user: Any) -> list[Dataset]:
    """The datasets the user may see that have lineage (edges or a derivation)."""
    with_edges = Q(lineage_node__edges_in__isnull=False) | Q(lineage_node__edges_out__isnull=False)
    derived = Q(derived_from__isnull=False) | Q(derivatives__isnull=False)
    return list(
        dataset_list_for(user=user, include_removed=True)
        .filter(with_edges | derived)
        .distinct()
        .order_by("address")[:500]
    )
