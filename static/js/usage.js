/* The usage dashboard: draws its charts from the json_script data with the vendored Chart.js.
   No inline script or handler; the tables next to each chart hold the same numbers. */
(function () {
  "use strict";
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var COLORS = {
    views: "#1d4ed8", queries: "#047857", synth_jobs: "#7c3aed", downloads: "#b45309", users: "#9b1c1c",
  };
  var LABELS = {
    views: "Views", queries: "Queries", synth_jobs: "Synthetic jobs", downloads: "Downloads", users: "Unique users",
  };

  function base() {
    return {
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 300 },
      plugins: { legend: { position: "bottom" } },
    };
  }

  function trend(canvas, data) {
    var labels = data.trend.map(function (row) { return row.day; });
    var datasets = Object.keys(LABELS).map(function (key) {
      return {
        label: LABELS[key], data: data.trend.map(function (row) { return row[key]; }),
        borderColor: COLORS[key], backgroundColor: COLORS[key], pointRadius: 2, tension: 0.2,
        borderDash: key === "users" ? [6, 4] : [],
      };
    });
    var options = base();
    options.interaction = { mode: "index", intersect: false };
    options.scales = { y: { beginAtZero: true, ticks: { precision: 0 } } };
    return new window.Chart(canvas, { type: "line", data: { labels: labels, datasets: datasets }, options: options });
  }

  function bars(canvas, rows, label, color) {
    var options = base();
    options.indexAxis = "y";
    options.plugins.legend = { display: false };
    options.scales = { x: { beginAtZero: true, ticks: { precision: 0 } } };
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: [{ label: label, data: rows.map(function (r) { return r.events; }), backgroundColor: color }],
      },
      options: options,
    });
  }

  function init() {
    var source = document.getElementById("usage-data");
    if (!window.Chart || !source) { return; }
    var data = JSON.parse(source.textContent);
    Array.prototype.forEach.call(document.querySelectorAll("canvas[data-usage-chart]"), function (canvas) {
      if (canvas.getAttribute("data-drawn")) { return; }
      var kind = canvas.getAttribute("data-usage-chart");
      if (kind === "trend") { trend(canvas, data); }
      else if (kind === "domains") { bars(canvas, data.domains, "Events", "#0f766e"); }
      else if (kind === "top") { bars(canvas, data.top, "Events", "#1d4ed8"); }
      canvas.setAttribute("data-drawn", "true");
    });
    var details = document.querySelector("details.chart-table");
    if (details) { details.removeAttribute("open"); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
