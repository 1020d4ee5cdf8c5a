/* Progressive enhancement only: every page works without this file.
   Turns <time data-countdown datetime="..."> into a live countdown. */
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

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();
