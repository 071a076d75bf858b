// Comity console: live updates of the liaison officer's dashboard.
//
// The page's #live section names the event stream (data-events). Each
// "change" event is announced in the polite live region and the results are
// fetched again (htmx), so the page shows each change without a reload; on
// "ready" (every connection, reconnections included) they are fetched again
// too, to catch up on what happened while the stream was down. The server
// says when to stop ("ended": the session is over) and how long to wait
// before reconnecting (the retry field: "busy" when the service's bound on
// open watches is reached). Every text shown comes from the server, in the
// user's language. No inline script: the CSP allows only files of the site.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var results = document.getElementById("liaison-results");
  if (!live || !results || typeof EventSource === "undefined") {
    return;
  }
  var url = live.getAttribute("data-events");
  var announce = document.getElementById("live-announce");
  // reopenDelay is how long the page waits before opening a new stream when
  // the browser gave up on one (an answer that was not an event stream).
  var reopenDelay = 30000;
  var source = null;
  var refreshTimer = null;

  // announced are the states worth telling a screen reader's user at once:
  // the updates have stopped or are paused. The others (connecting, on,
  // reconnecting after a token's renewal) come and go by themselves.
  var announced = {busy: true, unavailable: true, ended: true};

  // show displays the message of the stream's state and hides the others.
  function show(state) {
    live.setAttribute("data-live-state", state);
    var messages = live.querySelectorAll("[data-live-message]");
    for (var i = 0; i < messages.length; i++) {
      var mine = messages[i].getAttribute("data-live-message") === state;
      messages[i].hidden = !mine;
      if (mine && announced[state] && announce) {
        announce.textContent = messages[i].textContent;
      }
    }
  }

  // refresh fetches the results again, once for a burst of changes.
  function refresh() {
    if (refreshTimer !== null) {
      return;
    }
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      if (typeof htmx === "undefined") {
        return;
      }
      htmx.ajax("GET", window.location.pathname + window.location.search, {
        target: "#liaison-results",
        swap: "outerHTML"
      });
    }, 200);
  }

  // data reads an event's JSON data; an unreadable one is empty.
  function data(event) {
    try {
      return JSON.parse(event.data) || {};
    } catch (e) {
      return {};
    }
  }

  function open() {
    source = new EventSource(url);
    source.addEventListener("ready", function () {
      show("on");
      refresh();
    });
    source.addEventListener("change", function (event) {
      var d = data(event);
      if (announce && d.text) {
        announce.textContent = d.text;
      }
      refresh();
    });
    source.addEventListener("busy", function () {
      show("busy");
    });
    source.addEventListener("unavailable", function () {
      show("unavailable");
    });
    source.addEventListener("ended", function () {
      source.close();
      show("ended");
    });
    source.addEventListener("error", function () {
      var state = live.getAttribute("data-live-state");
      if (state === "ended") {
        return;
      }
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (the answer was not an event stream, e.g.
        // a rate limit's refusal): try again later, not at once.
        show("reconnecting");
        setTimeout(open, reopenDelay);
        return;
      }
      // The browser reconnects by itself, after the server's retry.
      if (state !== "busy" && state !== "unavailable") {
        show("reconnecting");
      }
    });
  }

  open();
})();
