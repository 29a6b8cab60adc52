// The desk's only script: parts of a page that follow the store by themselves (server-sent events), no
// framework. An element with data-live-url and data-events-url is fetched again whenever its stream
// says the store changed (and every minute, so ages move on).
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) {
    return;
  }

  // A keyboard user on a link of a part being refreshed keeps their place: the same link (same href)
  // in the new rows gets the focus back, instead of the focus falling to the top of the page.
  function focusOf(part) {
    var active = document.activeElement;
    return active && active !== part && part.contains(active) ? active.getAttribute("href") : null;
  }

  function refocus(part, href) {
    if (href === null) {
      return;
    }
    var links = part.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i += 1) {
      if (links[i].getAttribute("href") === href) {
        links[i].focus();
        return;
      }
    }
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
            var kept = focusOf(part);
            part.innerHTML = html;  // rendered and escaped by the desk
            refocus(part, kept);
            if (status) {
              // The page gives the words in its language; the time is the browser's, written the page's way.
              status.textContent = (status.getAttribute("data-updated") || "Updated at {time}.")
                .replace("{time}", new Date().toLocaleTimeString(document.documentElement.lang || undefined));
            }
          }
        })
        .catch(function () {
          if (status) {
            status.textContent = status.getAttribute("data-offline") || "The desk cannot be reached; retrying.";
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
