// Crowsnest console: live progress of a scan task. The task page marks its section with
// data-progress-url; while the task runs this polls that JSON once a second and updates the
// counters and the job rows in place (textContent only: no markup from the server is parsed).
"use strict";
(function () {
  const section = document.getElementById("task");
  if (!section || section.dataset.ended === "true") {
    return;
  }
  const url = section.dataset.progressUrl;
  const set = (id, value) => {
    const el = document.getElementById(id);
    if (el) {
      el.textContent = String(value);
    }
  };
  async function poll() {
    let body;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        // Signed out or the task is gone: stop, the page still shows the last state.
        set("task-result", "progress unavailable (" + response.status + ")");
        return;
      }
      body = await response.json();
    } catch (e) {
      setTimeout(poll, 3000);
      return;
    }
    set("task-status", body.status);
    set("task-result", body.result);
    set("task-finished", body.finish_count);
    set("task-total", body.total_count);
    set("task-failed", body.failed_count);
    const bar = document.getElementById("task-progress");
    if (bar) {
      bar.value = body.progress;
      bar.textContent = String(body.progress);
    }
    for (const job of body.jobs) {
      const row = document.querySelector('tr[data-job="' + Number(job.id) + '"]');
      if (!row) {
        continue;
      }
      row.querySelector(".state").textContent = job.state;
      row.querySelector(".attempts").textContent = String(job.attempts);
      row.querySelector(".failure").textContent = job.failure_code;
    }
    if (body.ended) {
      section.dataset.ended = "true";
    } else {
      setTimeout(poll, 1000);
    }
  }
  setTimeout(poll, 500);
})();
