// Access management pages: toggles that save on change, confirm dialogs, panels, copy buttons.
// Everything works without this file (forms have submit buttons); it only smooths the way.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // A toggle in the team table saves as soon as it is switched.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      box.addEventListener("change", function () {
        form.classList.add("saving");
        form.requestSubmit();
      });
    });
  });

  // Destructive actions ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // "Add member", "New role", "New API key" open their panel.
  document.querySelectorAll("[data-toggle-panel]").forEach(function (button) {
    var panel = document.getElementById(button.getAttribute("data-toggle-panel"));
    if (!panel) { return; }
    button.setAttribute("aria-expanded", panel.classList.contains("js-collapsed") ? "false" : "true");
    button.addEventListener("click", function () {
      var collapsed = panel.classList.toggle("js-collapsed");
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
      if (!collapsed) {
        var first = panel.querySelector("input:not([type=hidden])");
        if (first) { first.focus(); }
      }
    });
  });

  // Copy a secret or token to the clipboard.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  // Only one "Edit roles" popover open at a time.
  var popovers = document.querySelectorAll("details.popover");
  popovers.forEach(function (details) {
    details.addEventListener("toggle", function () {
      if (!details.open) { return; }
      popovers.forEach(function (other) { if (other !== details) { other.open = false; } });
    });
  });
})();
