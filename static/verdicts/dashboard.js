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
  // Drift: each statistic against the calibrated threshold that decides (value above threshold = drift),
  // prompts and responses each with their own threshold. No p-value is drawn: none is the decision.
  function formatter(pyFormat) {
    var m = /\{:\.(\d+)([fe%])\}/.exec(pyFormat || "") || [null, "4", "f"];
    var d = +m[1], kind = m[2];
    return function (v) {
      if (v === null || v === undefined) return "–";
      if (kind === "e") return v.toExponential(d);
      if (kind === "%") return (v * 100).toFixed(d) + "%";
      return v.toFixed(d);
    };
  }
  // Digits enough to be true: a value above its threshold must also read above it.
  function against(v, thr, fmt) {
    if (v === null || v === undefined) return "–";
    if (thr === null || thr === undefined) return fmt(v);
    var a = fmt(v), b = fmt(thr), digits = 3;
    while ((a === b) !== (v === thr) && digits < 12) {
      a = v.toPrecision(digits); b = thr.toPrecision(digits); digits += 1;
    }
    return a + " (threshold " + b + (v > thr ? ", above: drift)" : ", not above)");
  }
  var drift = series.drift || {};
  Object.keys(drift).forEach(function (name) {
    var s = drift[name], fmt = formatter(s.format);
    var id = name === "novel_excess" ? "novel" : name;
    make(id, [
      line("Prompts", s.prompts, C.blue),
      dashed("Prompt threshold", s.prompts_threshold, C.blue),
      line("Responses", s.responses, C.purple),
      dashed("Response threshold", s.responses_threshold, C.purple),
    ], s.label);
    var chart = charts[id];
    if (!chart) return;
    chart.options.plugins.tooltip = { callbacks: { label: function (ctx) {
      var i = ctx.dataIndex, target = ctx.datasetIndex < 2 ? "prompts" : "responses";
      if (ctx.datasetIndex % 2 === 1) return null;
      return ctx.dataset.label + ": " + against(s[target][i], s[target + "_threshold"][i], fmt);
    } } };
    chart.options.scales.y.ticks = { callback: function (v) { return fmt(v); } };
    chart.update();
  });

  var mapEl = document.getElementById("chart-map");
  if (mapEl) {
    // Distinct colours (Okabe–Ito, colour-blind safe) for topics; baseline grey, other current prompts blue.
    var palette = ["#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000", "#882255"];
    var datasets = [
      { label: "Baseline prompts", data: map.baseline, backgroundColor: "rgba(138,147,166,0.35)", pointRadius: 2 },
      { label: "Current prompts", data: map.current, backgroundColor: "rgba(0,114,178,0.6)", pointRadius: 2.5 },
    ];
    map.topics.forEach(function (topic, i) {
      datasets.push({ label: "New topic: " + topic.label, data: topic.points, backgroundColor: palette[i % palette.length],
        pointRadius: 4, pointStyle: "triangle" });
    });
    charts.map = new Chart(mapEl, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: true, aspectRatio: 1.4,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 10 } },
          // One example per point: the hovered point's own prompt (never a list of its neighbours).
          tooltip: { mode: "nearest", intersect: true, callbacks: {
            label: function (ctx) { return ctx.dataset.label + ": " + (ctx.raw.prompt || "") + " (click to open)"; } } },
        },
        interaction: { mode: "nearest", intersect: true },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var point = datasets[elements[0].datasetIndex].data[elements[0].index];
          if (point && point.url) window.location.href = point.url;
        },
        scales: { x: { title: { display: true, text: "PC 1" } }, y: { title: { display: true, text: "PC 2" } } },
      },
    });
  }
  document.documentElement.dataset.chartsReady = "true";
})();
