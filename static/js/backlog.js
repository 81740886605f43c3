/* Backlog pages: keyboard shortcuts, a selection that survives the htmx refresh, bulk actions.
 *
 * The list region (#backlog-live) is replaced every few seconds; which orders are
 * selected and which row has the keyboard cursor live here, keyed by order id, and
 * are put back after each swap. "All matching" selects every order the filters
 * show, beyond this page: the server takes them from the same filters. Before a
 * bulk action is sent, a missing reason is asked for here (the server asks too).
 */
(function () {
  "use strict";

  var selected = new Set();
  var cursorId = null;
  var allMatching = false;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-order-id]")); }
  function rowById(id) { return document.querySelector('tr[data-order-id="' + id + '"]'); }
  function boxOf(row) { return row && row.querySelector('input[name="orders"]'); }
  function table() { return document.querySelector("[data-backlog-table]"); }
  function text(name) {
    var texts = document.querySelector("template[data-bulk-texts]");
    var node = texts && texts.content.querySelector('[data-text="' + name + '"]');
    return node ? node.textContent.trim() : "";
  }
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function selectableRows() {
    return rows().filter(function (row) { var box = boxOf(row); return box && !box.disabled; });
  }

  function updateBulkBar() {
    var counter = document.querySelector("[data-bulk-count]");
    var matching = document.querySelector("[data-select-matching]");
    var scope = document.querySelector("[data-bulk-scope]");
    if (!counter) return;
    var list = table();
    var total = list ? Number(list.dataset.total) : 0;
    var onPage = list ? Number(list.dataset.onPage) : 0;
    var pageAllSelected = selectableRows().length > 0 && selectableRows().every(function (row) { return selected.has(row.dataset.orderId); });
    if (allMatching && !(pageAllSelected && total > onPage)) allMatching = false;
    if (scope) scope.value = allMatching ? "matching" : "selected";
    var seenAt = document.querySelector("[data-bulk-seen-at]");
    if (seenAt && list && !allMatching) seenAt.value = list.dataset.seenAt;
    counter.textContent = allMatching ? text("matching-selected")
      : counter.dataset.template ? counter.dataset.template.replace("0", String(selected.size)) : String(selected.size);
    counter.classList.toggle("has-selection", selected.size > 0 || allMatching);
    if (matching) {
      matching.hidden = allMatching || !pageAllSelected || total <= onPage;
      matching.textContent = text("select-matching");
    }
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
    var all = document.querySelector("[data-select-all]");
    if (all) all.checked = selectableRows().length > 0 && selectableRows().every(function (row) { return selected.has(row.dataset.orderId); });
    updateBulkBar();
  }

  function clearSelection() {
    selected.clear();
    allMatching = false;
    restore();
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
    allMatching = false;
    if (selected.has(row.dataset.orderId)) selected.delete(row.dataset.orderId); else selected.add(row.dataset.orderId);
    restore();
  }

  function ensureSelection() {
    // The bulk buttons act on the selection; with none, on the row under the cursor.
    if (selected.size === 0 && !allMatching && cursorId) {
      var box = boxOf(rowById(cursorId));
      if (box && !box.disabled) { selected.add(cursorId); restore(); }
    }
    return selected.size > 0 || allMatching;
  }

  /* The reason a bulk action needs, asked for before anything is sent. */
  function missingReason(action) {
    var reason = document.querySelector("[data-bulk-reason]");
    if (!reason || reason.value.trim()) return null;
    if (action === "reject") return "reject";
    if (action !== "approve") return null;
    var needs = allMatching
      ? Number((table() || { dataset: {} }).dataset.needsOverride || 0) > 0
      : rows().some(function (row) { return selected.has(row.dataset.orderId) && row.hasAttribute("data-needs-reason"); });
    return needs ? "approve" : null;
  }

  function ask(kind) {
    var question = document.querySelector("[data-bulk-ask]");
    var reason = document.querySelector("[data-bulk-reason]");
    if (question) { question.textContent = question.dataset[kind]; question.hidden = false; }
    if (reason) { reason.dataset.pending = kind; reason.focus(); }
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
    else if (key === "Enter" || key === "o") {
      var link = cursorId && rowById(cursorId).querySelector("td.order a");
      if (link) window.location = link.href; else return false;
    }
    else if (key === "a") { if (ensureSelection()) bulkButton("approve").click(); }
    else if (key === "r") {
      if (ensureSelection() && reasonField) { reasonField.dataset.pending = "reject"; reasonField.focus(); }
    }
    else return false;
    return true;
  }

  function onDetailKey(event) {
    var key = event.key;
    if (key === "a" || key === "A") {
      var approve = document.getElementById(key === "A" ? "approve-next-button" : "approve-button");
      if (!approve || approve.disabled) return true;
      var override = document.getElementById("id_override_reason");
      if (override && !override.value.trim()) override.focus(); else approve.form.requestSubmit(approve);
    } else if (key === "r" || key === "R") {
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
      // Enter in the bulk reason field submits the action the user started with "r" (or was asked for).
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
    else if (table()) handled = onListKey(event);
    else handled = onDetailKey(event);
    if (handled) event.preventDefault();
  });

  // Before htmx (or the browser) sends a bulk action: something to act on, and the reason it needs.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("#bulk-form")) return;
    var action = event.submitter && event.submitter.value;
    var missing = ensureSelection() ? missingReason(action) : null;
    if (missing) {
      event.preventDefault();
      event.stopImmediatePropagation();
      ask(missing);
    }
  }, true);

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches('input[name="orders"]')) {
      allMatching = false;
      if (target.checked) selected.add(target.value); else selected.delete(target.value);
      restore();
    } else if (target.matches("[data-select-all]")) {
      allMatching = false;
      selectableRows().forEach(function (row) {
        if (target.checked) selected.add(row.dataset.orderId); else selected.delete(row.dataset.orderId);
      });
      restore();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-help]")) { openHelp(); return; }
    if (event.target.closest("[data-select-matching]")) {
      allMatching = true;
      var list = table();
      var seenAt = document.querySelector("[data-bulk-seen-at]");
      if (list && seenAt) seenAt.value = list.dataset.seenAt;  // the orders shown now; later ones are left out
      updateBulkBar();
      return;
    }
    if (event.target.closest("[data-close-results]")) { document.getElementById("bulk-results").innerHTML = ""; return; }
    var row = event.target.closest("tr[data-order-id]");
    if (row && !event.target.closest("a, input, button")) setCursor(row);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "backlog-live") restore();
    if (target.id === "bulk-results") {
      var question = document.querySelector("[data-bulk-ask]");
      if (question) question.hidden = true;
      if (target.querySelector("[data-asks-reason]")) {
        var reason = document.querySelector("[data-bulk-reason]");
        if (reason) reason.focus();
      } else if (target.querySelector("[data-bulk-answer]")) {
        clearSelection();
        var field = document.querySelector("[data-bulk-reason]");
        if (field) { field.value = ""; delete field.dataset.pending; }
        target.scrollIntoView({ block: "nearest" });
      }
    }
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
