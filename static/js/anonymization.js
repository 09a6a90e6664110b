/* Anonymization: the profile's confirmation as a dialog, live progress bars of jobs.
   Without JavaScript the button opens the confirmation page and progress shows on reload. */
(function () {
  "use strict";

  var FINISHED = { done: true, failed: true };
  var BADGE = { done: "badge-ok", failed: "badge-danger", running: "badge-id", queued: "" };

  function dialogFor() {
    var dialog = document.getElementById("an-dialog");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "an-dialog";
      dialog.className = "an-dialog";
      dialog.setAttribute("aria-labelledby", "an-dialog-title");
      document.body.appendChild(dialog);
      dialog.addEventListener("click", function (event) {
        var cancel = event.target.closest("[data-an-cancel]");
        if (cancel) {
          event.preventDefault();
          dialog.close();
        }
      });
    }
    return dialog;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-anonymize-dialog]");
    if (!link || typeof HTMLDialogElement === "undefined") {
      return;
    }
    event.preventDefault();
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("partial", "1");
    fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var dialog = dialogFor();
        // Server-rendered by our own template (names and counts only); no script inside.
        dialog.innerHTML = html;
        var title = dialog.querySelector(".an-title");
        if (title) {
          title.id = "an-dialog-title";
        }
        dialog.showModal();
        var cancel = dialog.querySelector("[data-an-cancel]");
        if (cancel) {
          cancel.focus();
        }
      })
      .catch(function () {
        window.location.href = link.href; // the confirmation page works without the dialog
      });
  });

  function setField(root, name, text) {
    root.querySelectorAll('[data-job-field="' + name + '"]').forEach(function (el) {
      el.textContent = text;
    });
  }

  function render(root, data) {
    root.setAttribute("data-job-status", data.status);
    root.querySelectorAll("[data-job-progress]").forEach(function (bar) {
      bar.value = data.percent;
      bar.textContent = data.percent + " %";
      bar.classList.toggle("is-done", data.status === "done");
      bar.classList.toggle("is-failed", data.status === "failed");
    });
    root.querySelectorAll("[data-job-badge]").forEach(function (badge) {
      badge.className = "badge an-status " + (data.stalled ? "badge-pii" : BADGE[data.status] || "");
      badge.textContent = data.status_label;
    });
    setField(root, "percent", String(data.percent));
    setField(root, "done", String(data.done));
    setField(root, "started_at", data.started_at_label);
    setField(root, "finished_at", data.finished_at_label);
    setField(root, "heartbeat_at", data.heartbeat_at_label);
    root.querySelectorAll("[data-job-stalled]").forEach(function (el) {
      el.classList.toggle("hidden", !data.stalled);
    });
    root.querySelectorAll('[data-job-field="error"]').forEach(function (el) {
      el.textContent = data.error || "";
      el.classList.toggle("hidden", !data.error);
    });
  }

  function poll(root, delay) {
    window.setTimeout(function () {
      fetch(root.getAttribute("data-job-status-url"), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          render(root, data);
          if (!FINISHED[data.status]) {
            poll(root, 1000);
          }
        })
        .catch(function () {
          poll(root, 5000); // a hiccup (deploy, network): try again, more slowly
        });
    }, delay);
  }

  document.querySelectorAll("[data-job-status-url]").forEach(function (root) {
    if (!FINISHED[root.getAttribute("data-job-status")]) {
      poll(root, 500);
    }
  });
})();
