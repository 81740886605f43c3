// The order feed: a click anywhere on a row opens the order, and live mode keeps the table to a
// bounded length (new orders come in at the top; the oldest rows drop off the bottom).
(function () {
  "use strict";
  var table = document.querySelector("[data-feed]");
  if (!table) return;
  var maxRows = parseInt(table.getAttribute("data-max-rows"), 10) || 500;

  table.addEventListener("click", function (event) {
    if (event.target.closest("a, button, input") || window.getSelection().toString()) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.href = row.getAttribute("data-href");
  });

  document.body.addEventListener("htmx:oobAfterSwap", function () {
    var empty = table.querySelector("tr.empty-row");
    if (empty && table.querySelector("tr[data-order]")) empty.remove();
    var rows = table.querySelectorAll("#feed-rows > tr");
    for (var i = rows.length - 1; i >= maxRows; i--) rows[i].remove();
  });
})();
