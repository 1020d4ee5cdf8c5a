/* Progressive enhancement only: every page works without this file.
   Turns <time data-countdown datetime="..."> into a live countdown, and announces the live
   inbox's count. */
(function () {
  "use strict";

  function format(ms) {
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    if (d > 0) return d + "d " + h + "h left";
    if (h > 0) return h + "h " + pad(m) + "m left";
    return m + ":" + pad(sec) + " left";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var left = due - now;
      if (left <= 0) {
        el.textContent = "expired";
        el.classList.add("is-overdue");
      } else {
        el.textContent = format(left);
      }
    });
  }

  // The inbox table changes live; only its count is announced (a status region outside the
  // table), not every row the push replaced.
  function announceInboxCount() {
    var table = document.getElementById("inbox-table");
    var region = document.getElementById("inbox-announce");
    if (!table || !region || !window.MutationObserver) return;
    var last = (table.querySelector(".inbox__count") || {}).textContent || "";
    new MutationObserver(function () {
      var count = document.querySelector("#inbox-table .inbox__count");
      var text = count ? count.textContent.replace(/\s+/g, " ").trim() : "";
      if (!text) text = "0 pending";
      keepTicks();
    if (text !== last.replace(/\s+/g, " ").trim()) region.textContent = text;
      last = text;
    }).observe(document.getElementById("content") || table, { childList: true, subtree: true });
  }

  // Rows ticked for a bulk decision stay ticked when a live update re-renders the table (a row
  // whose version changed is a new value: its old tick does not carry over).
  var ticked = {};
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.name === "selected" && box.form && box.form.id === "bulk-form") {
      if (box.checked) ticked[box.value] = true;
      else delete ticked[box.value];
    }
  });

  function keepTicks() {
    document.querySelectorAll('#inbox-table input[name="selected"]').forEach(function (box) {
      if (ticked[box.value] && !box.checked) box.checked = true;
    });
  }

  // A click on a node of a workflow graph shows its entry in the list under the graph.
  document.addEventListener("click", function (event) {
    var node = event.target.closest && event.target.closest("g[data-anchor]");
    if (node) window.location.hash = node.getAttribute("data-anchor");
  });

  // A page the browser kept in its back/forward cache shows the state of when it was left (a
  // decided item as still open): load it afresh instead.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    announceInboxCount();
    var panel = document.querySelector(".filters-panel");
    var narrow = window.matchMedia && window.matchMedia("(max-width: 699px)").matches;
    if (panel && narrow && panel.querySelector("summary").textContent.indexOf("(on)") === -1) panel.open = false;
  });
})();
