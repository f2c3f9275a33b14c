// Weighty actions ask first: a form (or its submit button) with data-confirm="<consequence>" opens a
// <dialog> naming the consequence; confirming posts the form with confirm=yes. Without this script the
// server answers a confirmation page instead (drift_app/confirm.py), so nothing happens in one click.
(function () {
  "use strict";
  var dialog = null;
  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
    dialog.innerHTML = '<form method="dialog"><p id="confirm-dialog-text"></p>' +
      '<p><button value="yes" class="danger" id="confirm-dialog-yes"></button> ' +
      '<button value="no" class="secondary" id="confirm-dialog-no">Cancel</button></p></form>';
    document.body.appendChild(dialog);
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter || null;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!message) { return; }
    var flag = form.querySelector("input[name=confirm]");
    if (flag && flag.value === "yes") { return; }
    event.preventDefault();
    if (!dialog) { build(); }
    dialog.querySelector("#confirm-dialog-text").textContent = message;
    dialog.querySelector("#confirm-dialog-yes").textContent =
      (submitter && (submitter.getAttribute("data-confirm-label") || submitter.textContent)) || "Confirm";
    dialog.onclose = function () {
      if (dialog.returnValue !== "yes") { return; }
      if (!flag) {
        flag = document.createElement("input");
        flag.type = "hidden";
        flag.name = "confirm";
        form.appendChild(flag);
      }
      flag.value = "yes";
      if (submitter && submitter.name) {
        // requestSubmit(submitter) keeps the button's name=value (e.g. action=retire).
        form.requestSubmit(submitter);
      } else {
        form.requestSubmit();
      }
    };
    dialog.returnValue = "";
    dialog.showModal();
  });
})();
