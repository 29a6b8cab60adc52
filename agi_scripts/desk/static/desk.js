// The desk's only script: the inbox follows the store by itself (server-sent events), no framework.
(function () {
  "use strict";
  var rows = document.getElementById("inbox-rows");
  if (!rows || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.getElementById("inbox-status");
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(rows.getAttribute("data-rows-url"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (response.status === 401) {
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          rows.innerHTML = html;  // rendered and escaped by the desk
          status.textContent = "Open cases, updated at " + new Date().toLocaleTimeString() + ".";
        }
      })
      .catch(function () {
        status.textContent = "The desk cannot be reached; retrying.";
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource(rows.getAttribute("data-events-url"));
  source.addEventListener("inbox", refresh);
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.reload();
  });
  window.setInterval(refresh, 60000);  // ages move on even when nothing else does
})();
