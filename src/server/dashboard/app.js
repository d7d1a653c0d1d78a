// hookrun dashboard: live output over the jobs endpoint's Server-Sent Events, confirmations
// for actions, local times, and a quiet refresh of the job list. No framework, no build.
"use strict";

function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
      t.title = t.getAttribute("datetime");
    }
  }
}

function confirmations() {
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      e.preventDefault();
    }
  });
}

function liveOutput() {
  const pre = document.getElementById("output");
  if (!pre || !pre.dataset.stream) return;
  // The stream starts from the beginning: replace what the page was rendered with.
  let started = false;
  const source = new EventSource(pre.dataset.stream);
  const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  source.addEventListener("output", (e) => {
    if (!started) { pre.textContent = ""; started = true; }
    const follow = atBottom();
    pre.textContent += e.data;
    if (follow) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (e) => {
    source.close();
    const state = JSON.parse(e.data);
    const badge = document.getElementById("job-state");
    if (badge) {
      badge.textContent = state.replace("_", " ");
      badge.className = "badge big " + state;
    }
    // Reload once for the final facts (exit code, result, times).
    setTimeout(() => window.location.reload(), 300);
  });
  source.onerror = () => { source.close(); };
}

function refreshJobs() {
  const box = document.getElementById("jobs");
  if (!box) return;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const resp = await fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("jobs");
      if (fresh) { box.innerHTML = fresh.innerHTML; localTimes(box); }
    } catch (_) { /* the next tick tries again */ }
  }, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  confirmations();
  liveOutput();
  refreshJobs();
});
