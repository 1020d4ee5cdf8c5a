// Desktop notifications from an open inbox tab: when the tab is in the background and a row
// appears (the inbox shows only what the reviewer may decide; rows arrive over the live socket),
// the browser shows a notification. Permission is asked once, from the button, never on load.
(function () {
  "use strict";
  var offer = document.getElementById("desktop-notifications");
  var button = offer && offer.querySelector("button");
  var content = document.getElementById("content");
  if (!button || !content || !("Notification" in window)) {
    return;
  }

  function rowIds() {
    var ids = new Set();
    document.querySelectorAll("#inbox-rows tr.inbox-row").forEach(function (row) {
      ids.add(row.id);
    });
    return ids;
  }

  function showButton() {
    offer.hidden = Notification.permission !== "default";
  }

  var known = rowIds();
  showButton();
  button.addEventListener("click", function () {
    Notification.requestPermission().then(showButton, showButton);
  });

  function announce(row) {
    var link = row.querySelector("a.inbox-row__link");
    var workflow = row.querySelector('[data-label="Workflow"]');
    var kind = row.querySelector('[data-label="Kind"]');
    if (!link) {
      return;
    }
    var body = [workflow, kind].filter(Boolean).map(function (cell) { return cell.textContent.trim(); }).join(" · ");
    var notice = new Notification("Waiting for you: " + link.textContent.trim(), { body: body, tag: row.id });
    notice.onclick = function () {
      window.focus();
      window.location.href = link.href;
    };
  }

  new MutationObserver(function () {
    var now = rowIds();
    var fresh = [];
    now.forEach(function (id) {
      if (!known.has(id)) {
        fresh.push(id);
      }
    });
    known = now;
    if (!fresh.length || !document.hidden || Notification.permission !== "granted") {
      return;
    }
    fresh.forEach(function (id) {
      var row = document.getElementById(id);
      if (row) {
        announce(row);
      }
    });
  }).observe(content, { childList: true, subtree: true });
})();
