/* Backlog pages: keyboard shortcuts, and a selection that survives the htmx refresh.
 *
 * The list region (#backlog-live) is replaced every few seconds; which orders are
 * selected and which row has the keyboard cursor live here, keyed by order id, and
 * are put back after each swap. Nothing else is stored.
 */
(function () {
  "use strict";

  var selected = new Set();
  var cursorId = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-order-id]")); }
  function rowById(id) { return document.querySelector('tr[data-order-id="' + id + '"]'); }
  function boxOf(row) { return row && row.querySelector('input[name="orders"]'); }
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function updateCount() {
    var counter = document.querySelector("[data-bulk-count]");
    if (!counter) return;
    counter.textContent = counter.dataset.template
      ? counter.dataset.template.replace("0", String(selected.size))
      : String(selected.size);
    counter.classList.toggle("has-selection", selected.size > 0);
  }

  function restore() {
    rows().forEach(function (row) {
      var box = boxOf(row);
      if (box && !box.disabled) box.checked = selected.has(row.dataset.orderId);
      row.classList.toggle("selected", selected.has(row.dataset.orderId));
      row.classList.toggle("cursor", row.dataset.orderId === cursorId);
    });
    // Orders that left the backlog (someone else decided them) leave the selection too.
    var present = new Set(rows().map(function (row) { return row.dataset.orderId; }));
    selected.forEach(function (id) { if (!present.has(id)) selected.delete(id); });
    updateCount();
  }

  function setCursor(row) {
    if (!row) return;
    cursorId = row.dataset.orderId;
    restore();
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (row) { return row.dataset.orderId === cursorId; });
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    setCursor(all[next]);
  }

  function toggle(row) {
    var box = boxOf(row);
    if (!box || box.disabled) return;
    if (selected.has(row.dataset.orderId)) selected.delete(row.dataset.orderId); else selected.add(row.dataset.orderId);
    restore();
  }

  function ensureSelection() {
    // The bulk buttons act on the selection; with none, on the row under the cursor.
    if (selected.size === 0 && cursorId) {
      var box = boxOf(rowById(cursorId));
      if (box && !box.disabled) { selected.add(cursorId); restore(); }
    }
    return selected.size > 0;
  }

  function bulkButton(action) { return document.querySelector('[data-bulk="' + action + '"]'); }
  function openHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }
  function submitNext() {
    var form = document.getElementById("next-form");
    if (form) form.requestSubmit();
  }

  function onListKey(event) {
    var key = event.key;
    var reasonField = document.querySelector("[data-bulk-reason]");
    if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "x" || key === " ") { if (cursorId) toggle(rowById(cursorId)); }
    else if (key === "Enter" || key === "o") { var row = rowById(cursorId); if (row) window.location = row.dataset.url; else return false; }
    else if (key === "a") { if (ensureSelection()) bulkButton("approve").click(); }
    else if (key === "r") {
      if (ensureSelection() && reasonField) { reasonField.dataset.pending = "reject"; reasonField.focus(); }
    }
    else return false;
    return true;
  }

  function onDetailKey(event) {
    var key = event.key;
    if (key === "a") {
      var approve = document.getElementById("approve-button");
      if (!approve || approve.disabled) return true;
      var override = document.getElementById("id_override_reason");
      if (override && !override.value.trim()) override.focus(); else approve.form.requestSubmit(approve);
    } else if (key === "r") {
      var reason = document.getElementById("id_reject_reason");
      if (reason && !reason.disabled) reason.focus();
    } else return false;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      if (typing(event.target)) event.target.blur();
      return;
    }
    if (typing(event.target)) {
      // Enter in the bulk reason field submits the action the user started with "r".
      if (event.key === "Enter" && event.target.matches("[data-bulk-reason]")) {
        event.preventDefault();
        var pending = event.target.dataset.pending || (event.target.value.trim() ? "reject" : "");
        if (pending && ensureSelection()) bulkButton(pending).click();
      }
      return;
    }
    if (document.querySelector("dialog[open]") && event.key !== "?") return;
    var handled = true;
    if (event.key === "?") openHelp();
    else if (event.key === "n") submitNext();
    else if (document.querySelector("[data-backlog-table]")) handled = onListKey(event);
    else handled = onDetailKey(event);
    if (handled) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches('input[name="orders"]')) {
      if (target.checked) selected.add(target.value); else selected.delete(target.value);
      restore();
    } else if (target.matches("[data-select-all]")) {
      rows().forEach(function (row) {
        var box = boxOf(row);
        if (!box || box.disabled) return;
        if (target.checked) selected.add(row.dataset.orderId); else selected.delete(row.dataset.orderId);
      });
      restore();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-help]")) { openHelp(); return; }
    var row = event.target.closest("tr[data-order-id]");
    if (row && !event.target.closest("a, input, button")) setCursor(row);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "backlog-live") restore();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var counter = document.querySelector("[data-bulk-count]");
    if (counter) counter.dataset.template = counter.textContent;
    rows().forEach(function (row) {
      var box = boxOf(row);
      if (box && box.checked) selected.add(row.dataset.orderId);
    });
    restore();
  });
})();
