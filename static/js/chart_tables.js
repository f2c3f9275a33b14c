// A data-table alternative for every chart (WCAG 1.1.1): a Chart.js plugin, registered for all charts on the
// page, that puts a collapsible table of the chart's own data right after its canvas. Line and bar charts get
// one row per x label and one column per series; scatter charts (the prompt map) one row per series with its
// point count and up to three example prompts. Loaded after Chart.js and before the page's chart scripts.
(function () {
  if (typeof Chart === "undefined" || window.driftdeskChartTables) { return; }
  window.driftdeskChartTables = true;

  function cell(tag, text) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (tag === "th") { el.scope = "col"; }
    return el;
  }

  function show(v) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) { return "–"; }
    if (typeof v === "number") { return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : v.toPrecision(4); }
    if (typeof v === "object" && "y" in v) { return show(v.y); }
    return String(v);
  }

  function build(chart) {
    var canvas = chart.canvas;
    var datasets = chart.data.datasets || [];
    var table = document.createElement("table");
    table.className = "chart-data";
    var head = document.createElement("tr");
    var body = document.createElement("tbody");
    if (chart.config.type === "scatter") {
      ["Series", "Points", "Examples"].forEach(function (h) { head.appendChild(cell("th", h)); });
      datasets.forEach(function (ds) {
        var tr = document.createElement("tr");
        var examples = (ds.data || []).map(function (p) { return p && p.prompt; }).filter(Boolean);
        examples = examples.filter(function (p, i) { return examples.indexOf(p) === i; }).slice(0, 3);
        tr.appendChild(cell("td", ds.label || ""));
        tr.appendChild(cell("td", String((ds.data || []).length)));
        tr.appendChild(cell("td", examples.join(" · ")));
        body.appendChild(tr);
      });
    } else {
      head.appendChild(cell("th", ""));
      datasets.forEach(function (ds) { head.appendChild(cell("th", ds.label || "")); });
      (chart.data.labels || []).forEach(function (label, i) {
        var tr = document.createElement("tr");
        var first = cell("th", String(label));
        first.scope = "row";
        tr.appendChild(first);
        datasets.forEach(function (ds) { tr.appendChild(cell("td", show((ds.data || [])[i]))); });
        body.appendChild(tr);
      });
    }
    var thead = document.createElement("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    table.appendChild(body);
    var details = document.createElement("details");
    details.className = "chart-table";
    var summary = document.createElement("summary");
    summary.textContent = "Data table" + (canvas.getAttribute("aria-label") ? ": " + canvas.getAttribute("aria-label") : "");
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(table);
    details.appendChild(summary);
    details.appendChild(wrap);
    return details;
  }

  Chart.register({
    id: "driftdeskDataTable",
    afterUpdate: function (chart) {
      var canvas = chart.canvas;
      var old = canvas.driftdeskTable;
      var fresh = build(chart);
      if (old && old.parentNode) {
        fresh.open = old.open;
        old.parentNode.replaceChild(fresh, old);
      } else {
        var anchor = canvas.parentNode && canvas.parentNode.classList.contains("prompt-map") ? canvas.parentNode : canvas;
        anchor.insertAdjacentElement("afterend", fresh);
      }
      canvas.driftdeskTable = fresh;
    },
  });
})();
