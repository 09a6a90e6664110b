// Customer filter and profile: small enhancements; every page works without them.
(function () {
  "use strict";

  // Show only the inputs an operator needs (value, upper bound for "between").
  function syncRow(row) {
    var op = row.querySelector(".cu-op");
    if (!op) return;
    var needsValue = op.value !== "exists" && op.value !== "not_exists";
    var between = op.value === "between";
    row.classList.toggle("cu-no-value", !needsValue);
    row.classList.toggle("cu-between", between);
  }

  var builder = document.getElementById("filter-builder");
  if (builder) {
    builder.classList.add("cu-js");
    builder.querySelectorAll(".cu-condition[data-row]").forEach(function (row) {
      syncRow(row);
      row.querySelector(".cu-op").addEventListener("change", function () { syncRow(row); });
    });
  }

  // "Select all on this page" for the bulk actions form.
  document.querySelectorAll(".cu-check-all").forEach(function (all) {
    all.addEventListener("change", function () {
      var form = all.closest("form");
      if (!form) return;
      form.querySelectorAll('input[name="customer"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });

  // Close the column picker when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.cu-columns[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
})();
