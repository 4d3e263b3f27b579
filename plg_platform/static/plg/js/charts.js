// Render every <canvas data-chart="…"> from the JSON in its data-config attribute (Chart.js).
(function () {
  function render(canvas) {
    if (canvas.dataset.rendered) return;
    const config = JSON.parse(canvas.dataset.config);
    new Chart(canvas, config);
    canvas.dataset.rendered = "1";
  }
  function renderAll(root) { (root || document).querySelectorAll("canvas[data-chart]").forEach(render); }
  document.addEventListener("DOMContentLoaded", () => renderAll());
  document.addEventListener("htmx:afterSwap", (e) => renderAll(e.target));
})();
