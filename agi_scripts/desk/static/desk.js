// The desk's only script: parts of a page that follow the store by themselves (server-sent events), no
// framework. An element with data-live-url and data-events-url is fetched again whenever its stream
// says the store changed (and every minute, so ages move on).
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) {
    return;
  }

  function follow(part) {
    var status = document.getElementById(part.getAttribute("data-status"));
    var busy = false;
    var again = false;

    function refresh() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      fetch(part.getAttribute("data-live-url"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (response) {
          if (response.status === 401) {
            window.location.reload();
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null) {
            part.innerHTML = html;  // rendered and escaped by the desk
            if (status) {
              status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
            }
          }
        })
        .catch(function () {
          if (status) {
            status.textContent = "The desk cannot be reached; retrying.";
          }
        })
        .then(function () {
          busy = false;
          if (again) {
            again = false;
            refresh();
          }
        });
    }

    var source = new EventSource(part.getAttribute("data-events-url"));
    source.addEventListener("changed", refresh);
    source.addEventListener("signed-out", function () {
      source.close();
      window.location.reload();
    });
    window.setInterval(refresh, 60000);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-live-url][data-events-url]"), follow);
})();
