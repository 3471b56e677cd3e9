/* The synthetic-data form: one click, one reservation (the Generate button is disabled while the
   form is sent, and usable again when the page comes back from the browser's cache). */
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("synth-form");
    if (!form || form.getAttribute("data-ready")) { return; }
    form.setAttribute("data-ready", "true");
    var button = form.querySelector("#submit-synth");
    form.addEventListener("submit", function (event) {
      if (button && event.submitter === button) {
        button.setAttribute("data-label", button.textContent);
        button.disabled = true;
        button.textContent = "Submitting…";
      }
    });
    window.addEventListener("pageshow", function () {
      if (button && button.disabled) { button.disabled = false; button.textContent = button.getAttribute("data-label"); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
