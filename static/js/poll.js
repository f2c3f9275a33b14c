// Regions marked data-poll="<ms>" refresh themselves from the page's own URL until the server renders
// them without data-poll (the background work is done). No inline script: CSP is script-src 'self'.
(function () {
  "use strict";
  var attempts = 0;
  function schedule() {
    attempts += 1;
    if (attempts > 900) { return; }  // half an hour at 2 s: a stuck job is shown as it is, not polled forever
    var regions = document.querySelectorAll("[data-poll]");
    if (!regions.length) { return; }
    var delay = Math.max(1000, parseInt(regions[0].getAttribute("data-poll"), 10) || 2000);
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "poll" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            regions.forEach(function (el) {
              var fresh = el.id ? doc.getElementById(el.id) : null;
              if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
            });
          }
          schedule();
        })
        .catch(function () { schedule(); });
    }, delay);
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
