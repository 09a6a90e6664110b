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

  // An event row: offer only the chosen event type's attributes, a count only when asked.
  function syncEventRow(row) {
    var type = row.querySelector(".cu-event-type").value;
    var attr = row.querySelector(".cu-where-attr");
    attr.querySelectorAll("optgroup").forEach(function (group) {
      var mine = group.getAttribute("data-event-type") === type;
      group.hidden = !mine;
      group.disabled = !mine;
    });
    var chosen = attr.options[attr.selectedIndex];
    if (chosen && chosen.parentNode.disabled) attr.value = "";
    row.classList.toggle("cu-no-where", !attr.value);
    var op = row.querySelector(".cu-where-op").value;
    row.classList.toggle("cu-where-no-value", op === "exists" || op === "not_exists");
    row.classList.toggle("cu-no-count", !row.querySelector(".cu-count-op").value);
  }

  // Group settings only for the groups some row uses.
  function syncGroups(builder) {
    var used = {};
    builder.querySelectorAll(".cu-group").forEach(function (select) {
      if (select.value !== "") used[select.value] = true;
    });
    builder.querySelectorAll(".cu-group-setting").forEach(function (setting) {
      setting.hidden = !used[setting.getAttribute("data-group")];
    });
  }

  var builder = document.getElementById("filter-builder");
  if (builder) {
    builder.classList.add("cu-js");
    builder.querySelectorAll(".cu-condition[data-row]").forEach(function (row) {
      syncRow(row);
      row.querySelector(".cu-op").addEventListener("change", function () { syncRow(row); });
    });
    builder.querySelectorAll(".cu-condition[data-event-row]").forEach(function (row) {
      syncEventRow(row);
      row.addEventListener("change", function () { syncEventRow(row); });
    });
    syncGroups(builder);
    builder.addEventListener("change", function () { syncGroups(builder); });
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
