/* Live sync status of the Third Party Applications pages: while an integration is queued or
   syncing, ask its progress URL (JSON, same site) once a second and show the status, progress
   line, message and last synced time without a reload. A static file: the CSP allows no inline
   script. */
(function () {
  "use strict";
  var EVERY_MS = 1000;

  function each(id, selector, fn) {
    document.querySelectorAll(selector + '[data-integration="' + id + '"]').forEach(fn);
  }

  function show(data) {
    each(data.id, ".pd-status", function (el) {
      var badge = el.querySelector(".status-badge");
      if (badge) {
        badge.className = "status-badge status-" + data.status;
        badge.textContent = data.status_display;
      }
    });
    each(data.id, ".pd-progress", function (el) { el.textContent = data.progress; });
    each(data.id, ".pd-message", function (el) {
      el.textContent = data.message;
      if (el.hasAttribute("title")) el.setAttribute("title", data.message);
    });
    each(data.id, ".pd-last-synced", function (el) { el.textContent = data.last_synced; });
  }

  function follow(el) {
    var url = el.getAttribute("data-progress-url");
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}, cache: "no-store"})
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          show(data);
          if (data.in_flight) window.setTimeout(poll, EVERY_MS);
        })
        .catch(function () { window.setTimeout(poll, EVERY_MS * 5); });
    }
    window.setTimeout(poll, EVERY_MS);
  }

  function start() {
    document.querySelectorAll(".pd-status[data-progress-url]").forEach(follow);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
