/* The query pages: shows the amount field of the chosen mechanism, inserts column names into the
   SQL, and draws each answer column as a bar chart with its 95% confidence intervals as error bars
   (data from json_script, the vendored Chart.js). No inline script or handler; without JS the
   pages keep every field and the results table. */
(function () {
  "use strict";

  // --- the editor ----------------------------------------------------------------------------

  function showMechanismFields(form) {
    var select = form.querySelector("select[name=mechanism]");
    if (!select) { return; }
    var gaussian = select.value === "gaussian";
    var epsilon = form.querySelector(".field-epsilon");
    var rho = form.querySelector(".field-rho");
    if (epsilon) { epsilon.hidden = gaussian; }
    if (rho) { rho.hidden = !gaussian; }
  }

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd, value = textarea.value;
    var before = value.slice(0, start), after = value.slice(end);
    var pad = before && !/[\s(,]$/.test(before) ? " " : "";
    textarea.value = before + pad + text + after;
    var caret = (before + pad + text).length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function initEditor(root) {
    var form = root.querySelector ? root.querySelector("#query-form") : null;
    if (!form || form.getAttribute("data-ready")) { return; }
    form.setAttribute("data-ready", "true");
    showMechanismFields(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "mechanism") { showMechanismFields(form); }
    });
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (button && button.id === "submit-query") {
        button.setAttribute("data-label", button.textContent);
        button.disabled = true;  // one click, one reservation
        button.textContent = "Submitting…";
      }
    });
    // Back from the job page (the page cache keeps the disabled button): the form is usable again.
    window.addEventListener("pageshow", function () {
      var button = form.querySelector("#submit-query");
      if (button && button.disabled) { button.disabled = false; button.textContent = button.getAttribute("data-label"); }
    });
    var textarea = form.querySelector("textarea[name=sql]");
    Array.prototype.forEach.call(document.querySelectorAll(".insert-column"), function (button) {
      button.hidden = false;
      var plainName = button.parentNode.querySelector(".column-name");
      if (plainName) { plainName.hidden = true; }
      button.addEventListener("click", function () { insertAtCursor(textarea, button.getAttribute("data-insert")); });
    });
  }

  // --- the answer's charts --------------------------------------------------------------------

  var errorBars = {
    id: "errorBars",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      chart.data.datasets.forEach(function (dataset, index) {
        var meta = chart.getDatasetMeta(index);
        if (!dataset.errorBars || meta.hidden) { return; }
        var scale = chart.scales[meta.yAxisID];
        meta.data.forEach(function (bar, j) {
          var bounds = dataset.errorBars[j];
          if (!bounds || bounds[0] === null || bounds[1] === null) { return; }
          var top = scale.getPixelForValue(bounds[1]), bottom = scale.getPixelForValue(bounds[0]);
          var half = Math.max(3, Math.min(bar.width / 4, 10));
          ctx.save();
          ctx.strokeStyle = "#0f172a";
          ctx.lineWidth = 1.5;
          ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - half, top); ctx.lineTo(bar.x + half, top);
          ctx.moveTo(bar.x - half, bottom); ctx.lineTo(bar.x + half, bottom);
          ctx.stroke();
          ctx.restore();
        });
      });
    },
  };

  function formatNumber(value) {
    var magnitude = Math.abs(value);
    var places = magnitude >= 1000 ? 0 : magnitude >= 100 ? 1 : magnitude >= 1 ? 2 : 4;
    return value.toLocaleString(undefined, { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  function drawChart(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-result-chart"));
    if (!window.Chart || !source || canvas.getAttribute("data-drawn")) { return; }
    var data = JSON.parse(source.textContent);
    var series = data.series[Number(canvas.getAttribute("data-series"))];
    if (!series) { return; }
    var bounds = series.values.map(function (_, i) { return [series.low[i], series.high[i]]; });
    var extremes = series.values.concat(series.low, series.high).filter(function (v) { return v !== null; });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: series.name, data: series.values, errorBars: bounds,
          backgroundColor: "rgba(29, 78, 216, 0.55)", borderColor: "#1d4ed8", borderWidth: 1,
        }],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,  // the whiskers are drawn at their final place: bars must not grow under them
        scales: {
          y: {
            beginAtZero: true,
            suggestedMin: Math.min.apply(null, extremes.concat([0])),
            suggestedMax: Math.max.apply(null, extremes.concat([0])),
            title: { display: true, text: series.name },
          },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                var b = bounds[item.dataIndex];
                var text = series.name + ": " + formatNumber(item.parsed.y);
                return b[0] === null ? text : text + " (95% CI " + formatNumber(b[0]) + " to " + formatNumber(b[1]) + ")";
              },
            },
          },
        },
      },
      plugins: [errorBars],
    });
    canvas.setAttribute("data-drawn", "true");
  }

  function init(root) {
    initEditor(root);
    Array.prototype.forEach.call(root.querySelectorAll("canvas[data-result-chart]"), drawChart);
  }

  init(document);
  if (window.htmx) {
    window.htmx.onLoad(function (elt) {
      if (elt === document.body || !elt.querySelectorAll) { return; }
      init(elt);
    });
  }
})();
