/* The privacy pages: draws the spending chart from its json_script data with the vendored
   Chart.js, and moves focus to the message after a policy change. No inline script or handler. */
(function () {
  "use strict";
  var DAY = 24 * 60 * 60 * 1000;
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function isoDay(ms) { return new Date(ms).toISOString().slice(0, 10); }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart-source"));
    if (!window.Chart || !source || canvas.getAttribute("data-drawn")) { return; }
    var data = JSON.parse(source.textContent);
    var points = data.points.map(function (p) {
      return { x: Date.parse(p.day + "T00:00:00Z"), y: p.cumulative === null ? null : Number(p.cumulative) };
    });
    if (!points.length) { return; }
    var first = points[0].x;
    var last = Math.max(points[points.length - 1].x, first + DAY);
    var datasets = [{
      label: "Epsilon used (spent and reserved)", data: points, stepped: "before",
      borderColor: "#1d4ed8", backgroundColor: "rgba(29, 78, 216, 0.12)", fill: true, pointRadius: 3,
    }];
    if (data.limit !== null) {
      var limit = Number(data.limit);
      datasets.push({
        label: "Dataset-wide budget", data: [{ x: first, y: limit }, { x: last, y: limit }],
        borderColor: "#9b1c1c", borderDash: [6, 4], pointRadius: 0, fill: false,
      });
    }
    var spanDays = Math.max(1, Math.round((last - first) / DAY));
    new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        maintainAspectRatio: false,
        animation: reduceMotion ? false : { duration: 300 },
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: {
            type: "linear", min: first, max: last,
            ticks: { stepSize: DAY * Math.max(1, Math.ceil(spanDays / 8)), callback: function (v) { return isoDay(v); } },
          },
          y: { beginAtZero: true, title: { display: true, text: "epsilon" } },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { title: function (items) { return items.length ? isoDay(items[0].parsed.x) : ""; } } },
        },
      },
    });
    canvas.setAttribute("data-drawn", "true");
    // The table stays one click away for those who prefer numbers or use a screen reader.
    var details = canvas.closest("section") && canvas.closest("section").querySelector("details.chart-table");
    if (details) { details.removeAttribute("open"); }
  }

  function init(root) {
    Array.prototype.forEach.call(root.querySelectorAll("canvas[data-chart-source]"), draw);
  }

  init(document);
  if (window.htmx) {
    window.htmx.onLoad(function (elt) {
      if (elt === document.body || !elt.querySelector) { return; }
      init(elt);
      var message = elt.matches && elt.matches("#policies") ? elt.querySelector(".policies-message") : null;
      if (message) { message.focus(); }
    });
  }
})();
