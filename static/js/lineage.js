/* Lineage graph: Cytoscape.js (vendored) with the dagre layered layout, left (upstream) to right.
 *
 * The page already shows the same edges as a table and the options as a GET form; this script
 * draws the graph, fetches other depths and filters without a reload, expands and collapses nodes,
 * and highlights the path between two nodes (in the graph and in the table).
 */
(function () {
  "use strict";

  var KIND_COLOURS = { dataset: "#1d4ed8", synthetic: "#7c3aed", external: "#64748b", hidden: "#cbd5e1" };

  function text(value) { return value === undefined || value === null ? "" : String(value); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function nodeCell(node) {
    var cell = el("td");
    if (!node) { return cell; }
    if (node.kind === "hidden") {
      cell.appendChild(el("span", { "class": "lineage-hidden", text: "hidden datasets" }));
    } else if (node.kind === "external") {
      cell.appendChild(el("span", { "class": "lineage-external", title: "External dataset, not in the catalog" }, [
        el("code", { text: text(node.namespace) }), document.createTextNode(" "), el("code", { text: node.label })]));
    } else {
      cell.appendChild(el("a", { href: node.graph_url, text: node.label }));
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(el("code", { "class": "small", text: node.address }));
      if (node.kind === "synthetic") { cell.appendChild(el("span", { "class": "lineage-kind", text: " synthetic" })); }
    }
    return cell;
  }

  function Explorer(root) {
    this.root = root;
    this.apiUrl = root.getAttribute("data-api-url");
    this.center = root.getAttribute("data-center");
    this.status = root.querySelector(".lineage-status");
    this.form = root.querySelector(".lineage-controls");
    this.addedBy = {};   // node id -> id of the node whose expansion added it
    this.expansions = 0;
    var data = JSON.parse(document.getElementById(root.getAttribute("data-json-id")).textContent);
    this.columns = data.column_edges || [];
    this.cy = window.cytoscape({
      container: root.querySelector(".lineage-canvas"),
      elements: [],
      wheelSensitivity: 0.3,
      minZoom: 0.2,
      maxZoom: 1.4,
      style: [
        { selector: "node", style: {
          "label": "data(label)", "background-color": "data(colour)", "color": "#1f2933", "font-size": 11,
          "text-valign": "bottom", "text-margin-y": 4, "width": 22, "height": 22, "text-wrap": "ellipsis",
          "text-max-width": 140 } },
        { selector: "node.center", style: { "border-width": 4, "border-color": "#f59e0b", "width": 28, "height": 28 } },
        { selector: "node.hidden", style: { "shape": "round-rectangle", "color": "#52606d" } },
        { selector: "node.external", style: { "shape": "diamond" } },
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#0f172a" } },
        { selector: "edge", style: {
          "width": 2, "line-color": "#9fb3c8", "target-arrow-color": "#9fb3c8", "target-arrow-shape": "triangle",
          "curve-style": "bezier" } },
        { selector: "edge.column", style: {
          "line-style": "dashed", "width": 1, "label": "data(label)", "font-size": 9, "color": "#52606d",
          "text-rotation": "autorotate", "line-color": "#c4b5fd", "target-arrow-color": "#c4b5fd" } },
        { selector: ".on-path", style: {
          "line-color": "#f59e0b", "target-arrow-color": "#f59e0b", "background-color": "#f59e0b", "width": 4,
          "z-index": 10 } },
        { selector: "node.on-path", style: { "width": 28, "height": 28 } },
      ],
    });
    this.load(data, null);
    this.bind();
    root.querySelector(".lineage-tools").hidden = false;
  }

  Explorer.prototype.elementsFor = function (data, expander) {
    var self = this;
    var suffix = expander === null ? "" : "@" + self.expansions;
    var rename = {};
    var elements = [];
    data.nodes.forEach(function (node) {
      var id = node.kind === "hidden" ? node.id + suffix : node.id;  // hidden ids only mean something per answer
      rename[node.id] = id;
      if (self.cy.getElementById(id).nonempty()) { return; }
      if (expander !== null) { self.addedBy[id] = expander; }
      var classes = [node.kind];
      if (id === self.center) { classes.push("center"); }
      elements.push({ group: "nodes", data: Object.assign({}, node, { id: id, colour: KIND_COLOURS[node.kind] || "#1d4ed8" }),
                      classes: classes.join(" ") });
    });
    data.edges.forEach(function (edge) {
      var source = rename[edge.source], target = rename[edge.target];
      var id = "E:" + source + ">" + target + ":" + edge.job;
      if (self.cy.getElementById(id).nonempty()) { return; }
      elements.push({ group: "edges", data: { id: id, source: source, target: target, job: edge.job, origin: edge.origin } });
    });
    (data.column_edges || []).forEach(function (edge) {
      var source = rename[edge.source], target = rename[edge.target];
      if (!source || !target) { return; }
      var id = "C:" + source + "." + edge.source_field + ">" + target + "." + edge.target_field;
      if (self.cy.getElementById(id).nonempty()) { return; }
      elements.push({ group: "edges", classes: "column", data: {
        id: id, source: source, target: target, label: edge.source_field + " → " + edge.target_field,
        source_field: edge.source_field, target_field: edge.target_field, transformation: edge.transformation } });
    });
    return elements;
  };

  Explorer.prototype.load = function (data, expander) {
    if (expander === null) {
      this.cy.elements().remove();
      this.addedBy = {};
      this.center = data.center;
    }
    this.cy.add(this.elementsFor(data, expander));
    this.relayout();
  };

  Explorer.prototype.relayout = function () {
    try {
      this.cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 30, rankSep: 110, animate: false, fit: true, padding: 20 }).run();
    } catch (error) {
      this.cy.layout({ name: "breadthfirst", directed: true, fit: true, padding: 20 }).run();
    }
    this.refreshTable();
    this.refreshSelects();
  };

  Explorer.prototype.nodeData = function (id) {
    var node = this.cy.getElementById(id);
    return node.nonempty() ? node.data() : null;
  };

  Explorer.prototype.refreshTable = function () {
    var self = this;
    var body = self.root.querySelector("table.lineage-edges tbody");
    body.textContent = "";
    var edges = self.cy.edges().not(".column");
    if (edges.empty()) {
      body.appendChild(el("tr", { "class": "lineage-empty" }, [el("td", { colspan: "4", "class": "muted",
        text: "No lineage recorded within these hops." })]));
    }
    edges.forEach(function (edge) {
      var row = el("tr", { "data-edge-id": edge.id() }, [
        nodeCell(self.nodeData(edge.data("source"))), nodeCell(self.nodeData(edge.data("target"))),
        el("td", {}, [edge.data("job") ? el("code", { text: edge.data("job") }) : el("span", { "class": "muted", text: "not shown" })]),
        el("td", { text: edge.data("origin") }),
      ]);
      if (edge.hasClass("on-path")) { row.classList.add("on-path"); }
      body.appendChild(row);
    });
    var columnBox = self.root.querySelector(".lineage-columns");
    var columnBody = self.root.querySelector("table.lineage-column-edges tbody");
    var columnEdges = self.cy.edges(".column");
    var wanted = self.form.querySelector("input[name=columns]").checked;
    columnBox.hidden = !wanted;
    columnBody.textContent = "";
    if (columnEdges.empty()) {
      columnBody.appendChild(el("tr", { "class": "lineage-empty" }, [el("td", { colspan: "5", "class": "muted",
        text: "No column-level lineage within these hops." })]));
    }
    columnEdges.forEach(function (edge) {
      columnBody.appendChild(el("tr", {}, [
        nodeCell(self.nodeData(edge.data("source"))), el("td", {}, [el("code", { text: edge.data("source_field") })]),
        nodeCell(self.nodeData(edge.data("target"))), el("td", {}, [el("code", { text: edge.data("target_field") })]),
        el("td", { text: text(edge.data("transformation")) }),
      ]));
    });
  };

  Explorer.prototype.refreshSelects = function () {
    var self = this;
    ["lineage-node-select", "lineage-from", "lineage-to"].forEach(function (name) {
      var select = self.root.querySelector("select." + name);
      var previous = select.value;
      select.textContent = "";
      self.cy.nodes().sort(function (a, b) { return a.data("label").localeCompare(b.data("label")); }).forEach(function (node) {
        var label = node.data("address") || node.data("label");
        if (node.data("kind") === "hidden") { label = "hidden datasets (" + node.id() + ")"; }
        select.appendChild(el("option", { value: node.id(), text: label }));
      });
      if (previous && self.cy.getElementById(previous).nonempty()) { select.value = previous; }
      else if (name !== "lineage-to") { select.value = self.center; }
    });
  };

  Explorer.prototype.params = function (extra) {
    var params = new URLSearchParams();
    var form = this.form;
    ["up", "down", "domain", "tag"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (field && field.value) { params.set(name, field.value); }
    });
    if (form.querySelector("input[name=columns]").checked) { params.set("columns", "true"); }
    Object.keys(extra || {}).forEach(function (key) { params.set(key, extra[key]); });
    return params;
  };

  Explorer.prototype.fetchGraph = function (params) {
    var self = this;
    self.say("Loading…");
    return fetch(self.apiUrl + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.message || ("The portal answered " + response.status)); }
          return body;
        });
      })
      .catch(function (error) { self.say(error.message); throw error; });
  };

  Explorer.prototype.say = function (message) { if (this.status) { this.status.textContent = message; } };

  Explorer.prototype.reload = function () {
    var self = this;
    var params = self.params({ dataset: self.root.getAttribute("data-address") });
    self.fetchGraph(params).then(function (data) {
      self.load(data, null);
      self.say("Showing " + data.nodes.length + " node" + (data.nodes.length === 1 ? "" : "s") + ", " +
               data.up + " hop(s) up and " + data.down + " down.");
      if (self.root.id === "lineage-page" && window.history && window.history.replaceState) {
        params.delete("dataset");
        window.history.replaceState(null, "", "?" + params.toString());
      }
    }).catch(function () {});
  };

  Explorer.prototype.expand = function (id) {
    var self = this;
    var node = self.nodeData(id);
    if (!node) { return; }
    if (!node.expandable) { self.say("Hidden datasets cannot be expanded."); return; }
    var params = self.params({ up: "1", down: "1" });
    if (node.kind === "external") { params.set("node", node.id); } else { params.set("dataset", node.address); }
    self.fetchGraph(params).then(function (data) {
      var before = self.cy.nodes().length;
      self.expansions += 1;
      self.load(data, id);
      self.say("Expanded " + (node.address || node.label) + ": " + (self.cy.nodes().length - before) + " new node(s).");
    }).catch(function () {});
  };

  Explorer.prototype.collapse = function (id) {
    var self = this;
    var removed = 0;
    var queue = [id];
    while (queue.length) {
      var current = queue.shift();
      Object.keys(self.addedBy).forEach(function (child) {
        if (self.addedBy[child] === current && child !== self.center) {
          delete self.addedBy[child];
          self.cy.getElementById(child).remove();
          removed += 1;
          queue.push(child);
        }
      });
    }
    self.relayout();
    self.say(removed ? "Collapsed " + removed + " node(s)." : "Nothing to collapse: this node was not expanded.");
  };

  Explorer.prototype.clearPath = function () {
    this.cy.elements().removeClass("on-path");
    this.root.querySelectorAll("tr.on-path").forEach(function (row) { row.classList.remove("on-path"); });
  };

  Explorer.prototype.highlight = function (from, to) {
    var self = this;
    self.clearPath();
    if (!from || !to || from === to) { self.say("Choose two different nodes."); return; }
    var lineage = self.cy.elements().not(".column");
    var root = self.cy.getElementById(from), goal = self.cy.getElementById(to);
    var found = lineage.aStar({ root: root, goal: goal, directed: true });
    if (!found.found) { found = lineage.aStar({ root: goal, goal: root, directed: true }); }
    var directed = found.found;
    if (!found.found) { found = lineage.aStar({ root: root, goal: goal, directed: false }); }
    if (!found.found) { self.say("No path between these two nodes in the graph shown."); return; }
    found.path.addClass("on-path");
    self.refreshTable();
    var names = found.path.nodes().map(function (node) { return node.data("address") || node.data("label"); });
    self.say((directed ? "Path: " : "Connected, not in one direction: ") + names.join(" → "));
  };

  Explorer.prototype.bind = function () {
    var self = this;
    self.form.addEventListener("submit", function (event) { event.preventDefault(); self.reload(); });
    self.form.addEventListener("change", function () { self.reload(); });
    self.root.querySelector(".lineage-tools").addEventListener("click", function (event) {
      var action = event.target.getAttribute && event.target.getAttribute("data-action");
      if (!action) { return; }
      var nodeId = self.root.querySelector("select.lineage-node-select").value;
      if (action === "expand") { self.expand(nodeId); }
      if (action === "collapse") { self.collapse(nodeId); }
      if (action === "fit") { self.cy.fit(undefined, 20); }
      if (action === "path") {
        self.highlight(self.root.querySelector("select.lineage-from").value, self.root.querySelector("select.lineage-to").value);
      }
      if (action === "clear") { self.clearPath(); self.say("Path cleared."); }
    });
    self.cy.on("tap", "node", function (event) {
      self.root.querySelector("select.lineage-node-select").value = event.target.id();
      self.say("Selected " + (event.target.data("address") || event.target.data("label")) +
               ". Double-click (or Expand) to expand it.");
    });
    self.cy.on("dbltap", "node", function (event) { self.expand(event.target.id()); });
  };

  function start() {
    if (!window.cytoscape) { return; }
    document.querySelectorAll(".lineage-explorer").forEach(function (root) {
      try { root.lineage = new Explorer(root); } catch (error) { /* the table stays */ }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
