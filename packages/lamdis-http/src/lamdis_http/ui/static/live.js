// lamdis run page, live: follows a queued or running run through the service's server-sent
// events (one connection), and puts what changed in the page. The server renders every piece
// of HTML with autoescaping, so text from assistants and judges arrives as text.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || typeof EventSource === "undefined") return;
  var shown = parseInt(live.getAttribute("data-items"), 10) || 0;
  var state = document.getElementById("live-state");
  var url = live.getAttribute("data-events") + "?items=" + shown;
  var attempt = live.getAttribute("data-attempt");
  if (attempt) url += "&attempt=" + encodeURIComponent(attempt);
  var rows = document.getElementById("item-rows");
  var details = document.getElementById("item-details");
  // The items table's "No tests ran." row, shown again when a re-queued run starts over.
  var empty = rows.querySelector("tr.empty");
  empty = empty ? empty.cloneNode(true) : emptyRow();

  function emptyRow() {
    var row = document.createElement("tr");
    var cell = document.createElement("td");
    row.className = "empty";
    cell.colSpan = document.querySelectorAll("#items thead th").length || 1;
    cell.textContent = "No tests ran.";
    row.appendChild(cell);
    return row;
  }
  var source = new EventSource(url);

  function say(text) {
    if (state) state.textContent = text;
  }

  function append(container, html) {
    container.insertAdjacentHTML("beforeend", html);
  }

  function apply(update) {
    if (update.header !== undefined) {
      document.getElementById("run-header").innerHTML = update.header;
    }
    if (update.reset) {
      // Recovery re-queued the run (its instance stopped): what was shown is gone.
      rows.textContent = "";
      details.textContent = "";
      shown = 0;
      if (!(update.items || []).length) rows.appendChild(empty.cloneNode(true));
    }
    (update.items || []).forEach(function (item) {
      var placeholder = rows.querySelector("tr.empty");
      if (placeholder) placeholder.remove();
      append(rows, item.row);
      append(details, item.detail);
      shown += 1;
    });
    var button = document.getElementById("stop-button");
    if (button && update.over) {
      // Over, but the stream stays open until the webhook's outcome is recorded.
      button.remove();
      say("run finished; waiting for the webhook's outcome");
    } else if (button && update.stopRequested) {
      button.disabled = true;
      button.textContent = "Stopping…";
    }
  }

  source.addEventListener("open", function () {
    say("live");
  });
  source.addEventListener("run", function (event) {
    apply(JSON.parse(event.data));
  });
  source.addEventListener("final", function (event) {
    source.close();
    apply(JSON.parse(event.data));
    var form = document.getElementById("stop-form");
    if (form) form.remove();
  });
  source.addEventListener("gone", function () {
    source.close();
    say("this run no longer exists");
  });
  source.addEventListener("error", function () {
    // EventSource reconnects by itself, resuming after the last item it was sent.
    if (source.readyState !== EventSource.CLOSED) say("reconnecting…");
  });
})();
