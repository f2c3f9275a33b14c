/* Deployment dashboard: draws the charts from the JSON the page embeds (no network, vendored Chart.js).
   Every chart is kept in window.driftdeskCharts[name] so the browser tests can read its data points. */
(function () {
  "use strict";
  var series = JSON.parse(document.getElementById("dashboard-series").textContent);
  var map = JSON.parse(document.getElementById("prompt-map").textContent);
  var charts = (window.driftdeskCharts = {});
  var C = { blue: "#2d5bd7", red: "#c62828", amber: "#b7791f", green: "#2e7d32", grey: "#8a93a6", purple: "#7b1fa2", teal: "#00897b" };
  var labels = series.labels;

  function line(label, data, color, extra) {
    return Object.assign({ label: label, data: data, borderColor: color, backgroundColor: color, tension: 0.2,
      pointRadius: 3, spanGaps: true, fill: false }, extra || {});
  }
  function dashed(label, data, color, extra) {
    return line(label, data, color, Object.assign({ borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5 }, extra || {}));
  }
  function constant(v) { return labels.map(function () { return v; }); }
  function make(name, datasets, yTitle, yOptions) {
    var el = document.getElementById("chart-" + name);
    if (!el) return;
    charts[name] = new Chart(el, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, responsive: true, interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { y: Object.assign({ title: { display: true, text: yTitle } }, yOptions || {}) },
      },
    });
  }

  var g = series.golden, t = series.thresholds;
  // Bands: between the review line and the baseline an item joins the review queue; below the code-red line it is code red.
  make("golden", [
    line("Golden pass rate", g.pass_rate, C.blue),
    dashed("Baseline", g.baseline, C.grey),
    dashed("Review (−" + t.review_drop_pct + "%)", g.review_line, C.amber, { fill: "-1", backgroundColor: "rgba(183,121,31,0.08)" }),
    dashed("Code red (−" + t.code_red_drop_pct + "%)", g.code_red_line, C.red, { fill: "-1", backgroundColor: "rgba(183,121,31,0.16)" }),
  ], "%", { suggestedMin: 0, suggestedMax: 100 });
  make("flags", [
    line("Flag rate", series.flags.flag_rate, C.amber),
    line("Confirmed-bad rate", series.flags.confirmed_bad_rate, C.red),
    dashed("Confirmed-bad, baseline period", series.flags.confirmed_bad_baseline, C.grey),
  ], "% of served answers", { suggestedMin: 0 });
  make("js", [
    line("Prompts", series.js.prompts, C.blue),
    dashed("Prompt threshold", series.js.prompts_threshold, C.blue),
    line("Responses", series.js.responses, C.purple),
    dashed("Response threshold", series.js.responses_threshold, C.purple),
    dashed("Seed band 0.15", constant(0.15), C.grey, { borderDash: [2, 3] }),
    dashed("Seed band 0.25", constant(0.25), C.grey, { borderDash: [2, 3], fill: "-1", backgroundColor: "rgba(138,147,166,0.10)" }),
  ], "JS divergence", { suggestedMin: 0 });
  make("wasserstein", [
    line("Prompts", series.wasserstein.prompts, C.blue),
    line("Responses", series.wasserstein.responses, C.purple),
  ], "distance", { suggestedMin: 0 });
  make("mmd", [
    line("Prompts", series.mmd_p_value.prompts, C.blue),
    line("Responses", series.mmd_p_value.responses, C.purple),
    dashed("α = " + t.mmd_alpha, constant(t.mmd_alpha), C.red, { fill: "origin", backgroundColor: "rgba(198,40,40,0.08)" }),
  ], "p-value", { min: 0, max: 1 });
  make("novel", [
    line("New-topic share", series.novel_share.prompts, C.teal),
    dashed("Retraining advice from " + t.novel_share_alert + "%", constant(t.novel_share_alert), C.red),
  ], "% of prompts", { suggestedMin: 0, suggestedMax: 50 });

  var mapEl = document.getElementById("chart-map");
  if (mapEl) {
    var palette = [C.red, C.amber, C.green, C.purple, C.teal, "#e91e63"];
    var datasets = [
      { label: "Baseline prompts", data: map.baseline, backgroundColor: "rgba(138,147,166,0.35)", pointRadius: 2.5 },
      { label: "Current prompts", data: map.current, backgroundColor: "rgba(45,91,215,0.55)", pointRadius: 2.5 },
    ];
    map.topics.forEach(function (topic, i) {
      datasets.push({ label: "New topic: " + topic.label, data: topic.points, backgroundColor: palette[i % palette.length],
        pointRadius: 4, pointStyle: "triangle" });
    });
    charts.map = new Chart(mapEl, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false, responsive: true,
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + (ctx.raw.prompt || ""); } } },
        },
        scales: { x: { title: { display: true, text: "PC 1" } }, y: { title: { display: true, text: "PC 2" } } },
      },
    });
  }
  document.documentElement.dataset.chartsReady = "true";
})();
