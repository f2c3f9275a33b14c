// The quality-signal charts of the deployment page and the dashboard (CSP: no inline script; data from the json_script element).
(function () {
  const el = document.getElementById("quality-data");
  if (!el || typeof Chart === "undefined") return;
  const q = JSON.parse(el.textContent);
  const line = (names) => names.map((n) => ({label: n, data: q.series[n], spanGaps: true}));
  const scores = Object.keys(q.series).filter((n) => n.startsWith("score:"));
  if (scores.length) {
    new Chart(document.getElementById("quality-scores"), {type: "line", data: {labels: q.days, datasets: line(scores)}});
  } else {
    // The dashboard's panel says why its scores chart stays empty.
    const empty = document.querySelector(".quality-empty");
    if (empty) empty.hidden = false;
  }
  new Chart(document.getElementById("quality-context"), {type: "line", data: {labels: q.days, datasets: [
    {label: "relevance (context)", data: q.series.relevance, yAxisID: "y", spanGaps: true},
    {label: "response tokens (context)", data: q.series.response_tokens, yAxisID: "y1", spanGaps: true}]},
    options: {scales: {y: {position: "left"}, y1: {position: "right", grid: {drawOnChartArea: false}}}}});
})();
