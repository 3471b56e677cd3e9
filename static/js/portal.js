/* Progressive enhancement for the portal's pages. Everything works without it. */
(function () {
  "use strict";

  // Forms that ask before they act (data-confirm="…"): the CSP allows no inline onsubmit handlers.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  if (!window.htmx) { return; }

  // A 400 (validation) or 403 (refusal) answer is a fragment that names the problem: swap it in
  // place like a success. Other errors leave the page as it is and are announced below.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "40[03]", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
    { code: "...", swap: false },
  ];

  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) { live.textContent = text; live.classList.add("shown"); }
  }

  document.body.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    announce(status === 404
      ? "This item no longer exists or you may not see it. Reload the page."
      : "The server could not handle this request (" + status + "). Please try again.");
  });
  document.body.addEventListener("htmx:sendError", function () {
    announce("The portal could not be reached. Check your connection and try again.");
  });

  // After a form is swapped in, move focus to its first field (or the one in error) so keyboard
  // users can type at once.
  htmx.onLoad(function (elt) {
    if (elt === document.body || !elt.matches) { return; }
    var form = elt.matches("form.edit-form") ? elt : elt.querySelector("form.edit-form");
    if (!form) { return; }
    var invalid = form.querySelector(".has-error input, .has-error textarea, .has-error select");
    var first = invalid || form.querySelector("input:not([type=hidden]), textarea, select");
    if (first) { first.focus(); }
  });
})();
