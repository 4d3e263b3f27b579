// The results page: while an analysis runs, the "Refresh now" button says so and is busy;
// when new results arrive (htmx swaps them into #results-slot), focus moves to their verdict
// so screen-reader users hear it. Polling itself is htmx's (hx-trigger="every 1s").
(function () {
  let shown = null;
  function snapshot() {
    const body = document.getElementById("results-body");
    return body ? body.dataset.snapshot : null;
  }
  function sync() {
    const button = document.getElementById("refresh-button");
    if (button) {
      const running = Boolean(document.querySelector("#refresh-progress[data-poll-url]"));
      button.disabled = running;
      button.setAttribute("aria-busy", running ? "true" : "false");
      button.textContent = running ? "Refreshing…" : "Refresh now";
    }
    const current = snapshot();
    if (shown !== null && current && current !== shown) {
      const verdict = document.getElementById("verdict-title");
      if (verdict) { verdict.setAttribute("tabindex", "-1"); verdict.focus(); }
    }
    shown = current;
  }
  document.addEventListener("htmx:afterSettle", sync);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sync);
  else sync();
})();
