// Submits a filter form when one of its <select data-autosubmit> changes. A static file rather than
// inline onchange="..." handlers, so the Content-Security-Policy can forbid inline script.
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.submit();
  }
});
