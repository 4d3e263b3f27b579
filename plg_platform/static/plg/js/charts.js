// Render every <canvas data-chart="…"> with Chart.js (vendored, no CDN).
//   data-chart="forest": a forest plot of lifts with their intervals; data-config holds
//     {"labels", "effects", "lows", "highs", "tones", "unit", "axis"}: unit is "percent" (a
//     relative change), "points" (percentage points) or "number"; a null bound is unbounded.
//   data-chart="bars": horizontal bars per label, one colour per series; data-config holds
//     {"labels", "series": [{"label", "values", "colour"}], "unit", "axis", "max"?}; unit
//     "share" prints whole percentages (a win rate), "percent" a lift to one decimal.
//   any other value: data-config is a complete Chart.js configuration.
// Each chart sits next to a table with the same numbers, for screen readers and for printing.
(function () {
  "use strict";
  const toneColour = (tone) => ({ good: "#1f7a3d", bad: "#b3261e" })[tone] || "#4f5b6d";

  // Draws a vertical line at x = 0: "no change".
  const zeroLine = {
    id: "zeroLine",
    afterDatasetsDraw(chart, _args, options) {
      if (!options || !options.enabled) return;
      const x = chart.scales.x;
      if (!x || x.min > 0 || x.max < 0) return;
      const px = x.getPixelForValue(0);
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(px, chart.chartArea.top);
      ctx.lineTo(px, chart.chartArea.bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function format(value, unit) {
    if (value === null || value === undefined || !isFinite(value)) return "unbounded";
    if (value === 0) return unit === "number" ? "0" : unit === "points" ? "0 pp" : "0%";
    const digits = Math.abs(value) < 0.01 ? 2 : 1;
    if (unit === "share") return Math.round(value * 100) + "%";
    if (unit === "percent") return (value * 100).toFixed(digits) + "%";
    if (unit === "points") return (value * 100).toFixed(digits) + " pp";
    return Number(value.toPrecision(3)).toString();
  }

  function forestConfig(d) {
    const finite = [...d.effects, ...d.lows, ...d.highs].filter((v) => v !== null && isFinite(v));
    finite.push(0);
    let lo = Math.min(...finite), hi = Math.max(...finite);
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.12;
    lo -= pad; hi += pad;
    const colours = d.tones.map(toneColour);
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          {
            type: "bar",
            label: d.intervalLabel || "Interval",
            data: d.lows.map((low, i) => [low === null ? lo : low, d.highs[i] === null ? hi : d.highs[i]]),
            backgroundColor: colours.map((c) => c + "55"),
            borderColor: colours,
            borderWidth: 1.5,
            borderSkipped: false,
            barPercentage: 0.5,
            categoryPercentage: 0.8,
            order: 2,
          },
          {
            type: "scatter",
            label: "Estimate",
            data: d.effects.map((e, i) => ({ x: e, y: d.labels[i] })),
            backgroundColor: colours,
            borderColor: "#fff",
            borderWidth: 2,
            pointRadius: 7,
            pointHoverRadius: 8,
            pointStyle: "rectRot",
            order: 1,
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: {
            type: "linear",
            suggestedMin: lo,
            suggestedMax: hi,
            title: { display: true, text: d.axis || "Change against control", color: "#4f5b6d" },
            ticks: { color: "#4f5b6d", callback: (v) => format(v, d.unit) },
            grid: { color: "#e3e7ef" },
          },
          y: { type: "category", ticks: { color: "#1d2330", font: { weight: "600" } }, grid: { display: false } },
        },
        plugins: {
          legend: { display: false },
          zeroLine: { enabled: true },
          tooltip: {
            callbacks: {
              label(ctx) {
                const i = ctx.dataIndex;
                if (ctx.dataset.type === "scatter") return "Estimate " + format(d.effects[i], d.unit);
                return "Interval " + format(d.lows[i], d.unit) + " to " + format(d.highs[i], d.unit);
              },
            },
          },
        },
      },
      plugins: [zeroLine],
    };
  }

  // Horizontal bars, one per label and series (e.g. raw and shrunk side by side).
  function barsConfig(d) {
    const values = d.series.flatMap((s) => s.values).filter((v) => v !== null && isFinite(v));
    const negative = values.some((v) => v < 0);
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: d.series.map((s) => ({
          label: s.label,
          data: s.values,
          backgroundColor: s.colour,
          borderColor: s.colour,
          borderWidth: 1,
          barPercentage: 0.85,
          categoryPercentage: 0.8,
        })),
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: {
            type: "linear",
            min: negative ? undefined : 0,
            max: d.max === undefined ? undefined : d.max,
            title: { display: true, text: d.axis || "", color: "#4f5b6d" },
            ticks: { color: "#4f5b6d", maxRotation: 0, stepSize: d.unit === "share" ? 0.25 : undefined, callback: (v) => format(v, d.unit) },
            grid: { color: "#e3e7ef" },
          },
          y: { type: "category", ticks: { color: "#1d2330", font: { weight: "600" } }, grid: { display: false } },
        },
        plugins: {
          legend: { display: d.series.length > 1, position: "top", align: "start", labels: { color: "#1d2330", boxWidth: 14 } },
          zeroLine: { enabled: negative },
          tooltip: {
            callbacks: {
              label(ctx) {
                const value = ctx.raw === null ? "—" : format(ctx.raw, d.unit);
                return (d.series.length > 1 ? ctx.dataset.label + ": " : "") + value;
              },
            },
          },
        },
      },
      plugins: [zeroLine],
    };
  }

  function render(canvas) {
    if (canvas.dataset.rendered || typeof Chart === "undefined") return;
    const data = JSON.parse(canvas.dataset.config);
    const presets = { forest: forestConfig, bars: barsConfig };
    const config = presets[canvas.dataset.chart] ? presets[canvas.dataset.chart](data) : data;
    new Chart(canvas, config);
    canvas.dataset.rendered = "1";
  }
  function renderAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(render);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => renderAll());
  else renderAll();
  document.addEventListener("htmx:afterSwap", (e) => renderAll(e.target));
})();
