// Data manager: the staging bar, client-side tabs and filtering, "Flag all suggested" and
// the unflag confirmation. Without this file the page still works as a plain form post.
(function () {
  "use strict";

  var form = document.getElementById("dm-form");
  if (!form) return;
  form.classList.add("dm-js-on");
  var filterForm = document.getElementById("dm-filter");
  if (filterForm) filterForm.classList.add("dm-js-on");

  var bar = document.getElementById("dm-savebar");
  var countEl = document.getElementById("dm-count");
  var countLabel = document.getElementById("dm-count-label");
  var dialog = document.getElementById("dm-confirm-dialog");

  function rows() {
    return Array.prototype.slice.call(form.querySelectorAll("tr.dm-row"));
  }

  function fieldChanged(el) {
    if (el.type === "checkbox") return (el.checked ? "1" : "0") !== el.dataset.orig;
    return el.value !== el.dataset.orig;
  }

  function rowFields(container) {
    return Array.prototype.slice.call(container.querySelectorAll("[data-orig]"));
  }

  // Count staged fields, mark staged rows and events, keep each event's flagged count.
  function refresh() {
    var count = 0;
    rows().forEach(function (row) {
      var changed = rowFields(row).filter(fieldChanged).length;
      count += changed;
      row.classList.toggle("is-staged", changed > 0);
      var box = row.querySelector(".dm-pii");
      if (box) row.dataset.pii = box.checked ? "1" : "0";
    });
    form.querySelectorAll("details.dm-event").forEach(function (group) {
      var desc = group.querySelector(".dm-event-description [data-orig]");
      if (desc && fieldChanged(desc)) count += 1;
      var staged = group.querySelector(".dm-row.is-staged") || (desc && fieldChanged(desc));
      group.classList.toggle("is-staged", !!staged);
      var flagged = group.querySelectorAll(".dm-row[data-pii='1']").length;
      var badge = group.querySelector(".dm-flagged");
      if (badge) {
        badge.querySelector(".dm-flagged-n").textContent = String(flagged);
        badge.classList.toggle("has-flags", flagged > 0);
      }
    });
    var suggestCount = document.getElementById("dm-suggest-count");
    if (suggestCount) {
      var open = form.querySelectorAll("tr.dm-row[data-suggested='1'][data-pii='0']").length;
      suggestCount.textContent = String(open);
    }
    if (bar) {
      countEl.textContent = String(count);
      countLabel.textContent = count === 1 ? "unsaved change" : "unsaved changes";
      bar.classList.toggle("is-idle", count === 0);
    }
    return count;
  }

  function discard() {
    form.querySelectorAll("[data-orig]").forEach(function (el) {
      if (el.type === "checkbox") el.checked = el.dataset.orig === "1";
      else el.value = el.dataset.orig;
    });
    refresh();
    applyFilter();
  }

  function stagedUnflags() {
    return Array.prototype.slice
      .call(form.querySelectorAll(".dm-pii"))
      .filter(function (box) { return !box.checked && box.dataset.orig === "1"; })
      .map(function (box) { return box.dataset.label; });
  }

  // Post only the rows that changed, so a large catalog stays a small request.
  function dropUnchangedRows() {
    rows().forEach(function (row) {
      if (rowFields(row).some(fieldChanged)) return;
      row.querySelectorAll("input, select").forEach(function (el) { el.disabled = true; });
    });
    form.querySelectorAll(".dm-event-description").forEach(function (label) {
      var desc = label.querySelector("[data-orig]");
      if (desc && !fieldChanged(desc)) {
        label.querySelectorAll("input").forEach(function (el) { el.disabled = true; });
      }
    });
  }

  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);

  form.addEventListener("submit", function (event) {
    var action = event.submitter ? event.submitter.value : "save";
    if (action === "discard") {
      event.preventDefault();
      discard();
      return;
    }
    if (action === "flag_suggested") {
      event.preventDefault();
      flagSuggested();
      return;
    }
    if (action === "save") {
      var unflags = stagedUnflags();
      if (unflags.length && dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        var list = document.getElementById("dm-confirm-list");
        list.textContent = "";
        unflags.forEach(function (name) {
          var li = document.createElement("li");
          var code = document.createElement("code");
          code.textContent = name;
          li.appendChild(code);
          list.appendChild(li);
        });
        dialog.showModal();
        return;
      }
    }
    dropUnchangedRows();
  });

  if (dialog) {
    document.getElementById("dm-confirm-cancel").addEventListener("click", function () {
      dialog.close();
    });
  }

  // "Flag all suggested": stage a flag on every suggested attribute; Save still applies it.
  function flagSuggested() {
    var staged = 0;
    form.querySelectorAll("tr.dm-row[data-suggested='1'] .dm-pii").forEach(function (box) {
      if (!box.checked) {
        box.checked = true;
        staged += 1;
      }
    });
    refresh();
    applyFilter();
    return staged;
  }
  var suggestBtn = document.getElementById("dm-flag-suggested");
  if (suggestBtn) {
    suggestBtn.addEventListener("click", function (event) {
      event.preventDefault();
      flagSuggested();
    });
  }

  // Tabs switch in place, so staged changes on one tab survive a look at the other.
  var tabInputs = document.querySelectorAll(".dm-tab-input");
  document.querySelectorAll(".dm-tab").forEach(function (tab) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      var name = tab.dataset.tab;
      document.querySelectorAll(".dm-tab").forEach(function (t) {
        var active = t === tab;
        t.classList.toggle("active", active);
        if (active) t.setAttribute("aria-current", "page");
        else t.removeAttribute("aria-current");
      });
      document.querySelectorAll(".dm-panel").forEach(function (panel) {
        panel.classList.toggle("hidden", panel.id !== "dm-panel-" + name);
      });
      tabInputs.forEach(function (input) { input.value = name; });
      var url = new URL(window.location.href);
      url.searchParams.set("tab", name);
      window.history.replaceState(null, "", url.toString());
    });
  });

  // Search and the PII filter apply as you type; the server applies the same rules.
  var q = document.getElementById("dm-q");
  function currentPiiFilter() {
    var checked = filterForm ? filterForm.querySelector("input[name=pii]:checked") : null;
    return checked ? checked.value : "";
  }
  function keeps(name, pii, also) {
    var needle = q ? q.value.trim().toLowerCase() : "";
    if (needle && name.indexOf(needle) === -1 && (also || "").indexOf(needle) === -1) return false;
    var mode = currentPiiFilter();
    if (mode === "only") return pii;
    if (mode === "not") return !pii;
    return true;
  }
  function applyFilter() {
    var filtering = (q && q.value.trim()) || currentPiiFilter();
    var customerShown = 0;
    document.querySelectorAll("#dm-panel-customers tr.dm-row").forEach(function (row) {
      var show = keeps(row.dataset.name, row.dataset.pii === "1", "");
      row.classList.toggle("hidden", !show);
      if (show) customerShown += 1;
    });
    var empty = document.querySelector("#dm-panel-customers .dm-empty");
    if (empty) empty.classList.toggle("hidden", customerShown > 0);
    document.querySelectorAll("details.dm-event").forEach(function (group) {
      var groupName = group.dataset.name;
      var groupRows = group.querySelectorAll("tr.dm-row");
      var shown = 0;
      groupRows.forEach(function (row) {
        var show = keeps(row.dataset.name, row.dataset.pii === "1", groupName);
        row.classList.toggle("hidden", !show);
        if (show) shown += 1;
      });
      var visible = shown > 0 || (groupRows.length === 0 && keeps(groupName, false, ""));
      group.classList.toggle("hidden", !visible);
      if (filtering && visible) group.open = true;
    });
    var url = new URL(window.location.href);
    if (q && q.value.trim()) url.searchParams.set("q", q.value.trim());
    else url.searchParams.delete("q");
    if (currentPiiFilter()) url.searchParams.set("pii", currentPiiFilter());
    else url.searchParams.delete("pii");
    window.history.replaceState(null, "", url.toString());
    form.querySelector("input[name=q]").value = q ? q.value.trim() : "";
    form.querySelector("input[name=pii]").value = currentPiiFilter();
  }
  if (filterForm) {
    filterForm.addEventListener("submit", function (event) {
      if (event.submitter && event.submitter.form === form) return;
      event.preventDefault();
      applyFilter();
    });
    if (q) q.addEventListener("input", applyFilter);
    filterForm.querySelectorAll("input[name=pii]").forEach(function (radio) {
      radio.addEventListener("change", applyFilter);
    });
  }

  refresh();
})();
