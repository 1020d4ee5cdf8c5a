/* Keyboard triage on the inbox and decision pages (progressive enhancement: every action is also a
   link or a button). j / k: next / previous item; Enter: open (a focused link does that itself);
   a: confirm, approve or accept; r: reject (focus on "Feedback"); e: edit; ?: the list of keys.
   No key acts while focus is in a text field, or with Ctrl, Alt or Meta held. A static file: the
   Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  var KEYS = [
    ["j", "Next item"],
    ["k", "Previous item"],
    ["Enter", "Open the item"],
    ["a", "Confirm, approve or accept"],
    ["r", "Reject (moves to Feedback)"],
    ["e", "Edit the output"],
    ["?", "Show these keys"],
  ];

  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    var type = (el.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) === -1;
  }

  // -- the list of keys: a native modal dialog (focus kept inside, Escape closes) -----------------
  var dialog = null;

  function helpDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "keys-dialog";
    dialog.setAttribute("aria-labelledby", "keys-title");
    var title = document.createElement("h2");
    title.id = "keys-title";
    title.textContent = "Keyboard shortcuts";
    dialog.appendChild(title);
    var list = document.createElement("dl");
    list.className = "keys-list";
    KEYS.forEach(function (pair) {
      var dt = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = pair[0];
      dt.appendChild(kbd);
      var dd = document.createElement("dd");
      dd.textContent = pair[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
    dialog.appendChild(list);
    var note = document.createElement("p");
    note.className = "help";
    note.textContent = "Keys do nothing while you type in a field.";
    dialog.appendChild(note);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "button button--secondary";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(close);
    document.body.appendChild(dialog);
    return dialog;
  }

  function showKeys() {
    var d = helpDialog();
    if (!d.open) d.showModal();
  }

  // -- inbox ----------------------------------------------------------------------------------------
  function rowLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("#inbox-rows .inbox-row__link"));
  }

  function moveRow(step) {
    var links = rowLinks();
    if (!links.length) return false;
    var at = links.indexOf(document.activeElement);
    var next = at === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    document.querySelectorAll("#inbox-rows .is-current").forEach(function (row) { row.classList.remove("is-current"); });
    var row = links[next].closest("tr");
    if (row) row.classList.add("is-current");
    links[next].focus();
    return true;
  }

  // -- decision page --------------------------------------------------------------------------------
  function panel() {
    return document.getElementById("decision-panel");
  }

  function clickButton(selector) {
    var p = panel();
    var button = p && p.querySelector(selector);
    if (!button) return false;
    button.click();
    return true;
  }

  function follow(rel) {
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (!link) return false;
    link.click();
    return true;
  }

  function focusOnArrival() {
    var p = panel();
    if (!p) return;
    // After a failed submit the error summary comes first; else the first field or the primary action.
    var target =
      document.getElementById("error-summary") ||
      p.querySelector(".form-error[role=alert]") ||
      p.querySelector(".decision-form input:not([type=hidden]), .decision-form select, .decision-form textarea:not(#field-feedback):not(#field-args)") ||
      p.querySelector(".decision-form .button--primary");
    if (target) target.focus({ preventScroll: false });
  }

  var ACTIONS = {
    j: function () { return moveRow(1) || follow("next"); },
    k: function () { return moveRow(-1) || follow("prev"); },
    a: function () { return clickButton('button[name="action"][value="confirm"]'); },
    r: function () {
      var feedback = document.getElementById("field-feedback") || document.getElementById("bulk-feedback");
      if (!feedback) return false;
      feedback.focus();
      return true;
    },
    e: function () {
      if (clickButton('button[name="edit"]')) return true;
      var args = document.querySelector("details.edit-args");  // a tool call's arguments
      if (!args) return false;
      args.open = true;
      document.getElementById("field-args").focus();
      return true;
    },
    "?": function () { showKeys(); return true; },
  };

  function onTriagePage() {
    return Boolean(panel() || document.getElementById("inbox-table"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (!onTriagePage() || typing(event.target)) return;
    if (dialog && dialog.open) return;
    var act = ACTIONS[event.key];
    if (act && act()) event.preventDefault();
  });

  function arrive() {
    if (!onTriagePage()) return;
    focusOnArrival();
    var main = document.getElementById("content");
    if (main && !main.querySelector(".keys-hint")) {
      var hint = document.createElement("p");
      hint.className = "keys-hint muted";
      hint.textContent = "Press ? for keyboard shortcuts.";
      main.appendChild(hint);
    }
  }

  document.addEventListener("DOMContentLoaded", arrive);
  // A boosted form (the decision panel) swaps in the next page without a load event.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.boosted) arrive();
  });
})();
