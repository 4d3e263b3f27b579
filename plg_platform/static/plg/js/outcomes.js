// Outcomes pages: their charts (Chart.js, vendored) and a recompute's live progress bar.
//   <canvas data-outcomes-chart="lines" data-config='{"labels", "series": [{"label", "values",
//     "colour"}], "unit", "axis"}'>: one line per series over days or weeks.
//   data-outcomes-chart="sparkline": {"labels", "values", "baseline", "target", "unit"}: a key
//     result's check-ins, with its baseline (dotted) and target (dashed).
//   data-outcomes-chart="checkins": {"labels", "computed", "manual", "baseline", "target",
//     "unit"}: computed values as a line, people's check-ins as points.
//   data-outcomes-chart="forecast": {"labels", "values", "mean", "low", "high",
//     "with_experiments", "target", "level", "unit"}: weekly values, then the forecast's mean
//     (dashed) inside its interval (a band), the end value with the experiments, the target.
//   <section data-job-url="/api/v1/kpis/jobs/<id>">: polls the job and moves its bar to 100%.
// Every chart sits next to a table with the same numbers; the bar's text is in an aria-live region.
(function () {
  "use strict";
  const INK = "#1d2330", MUTED = "#4f5b6d", GRID = "#e3e7ef";
  const GOOD = "#1f7a3d", BRAND = "#2f54c8", ORANGE = "#b35c00";
  const POLL_MS = 700;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function format(value, unit) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    switch (unit) {
      case "share": return (value * 100).toFixed(Math.abs(value) < 0.1 ? 1 : 0) + "%";
      case "users": return Math.round(value).toLocaleString("en-US");
      case "currency": return "$" + Math.round(value).toLocaleString("en-US");
      case "hours": return value.toFixed(1) + " h";
      case "ratio": return value.toFixed(2);
      case "score": return value.toFixed(1);
      default: return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : Number(value.toPrecision(3)).toString();
    }
  }
  function day(iso) {
    const [, m, d] = iso.split("-");
    return Number(d) + " " + MONTHS[Number(m) - 1];
  }
  const flat = (labels, value) => labels.map(() => value);

  function linesConfig(d) {
    return {
      type: "line",
      data: {
        labels: d.labels.map(day),
        datasets: d.series.map((s) => ({
          label: s.label,
          data: s.values,
          borderColor: s.colour,
          backgroundColor: s.colour,
          borderWidth: 2,
          pointRadius: d.labels.length > 40 ? 0 : 2,
          pointHoverRadius: 4,
          spanGaps: false,
          tension: 0.2,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { color: MUTED, maxRotation: 0, autoSkipPadding: 14 }, grid: { display: false } },
          y: {
            beginAtZero: true,
            title: { display: Boolean(d.axis), text: d.axis || "", color: MUTED },
            ticks: { color: MUTED, callback: (v) => format(v, d.unit) },
            grid: { color: GRID },
          },
        },
        plugins: {
          legend: { position: "top", align: "start", labels: { color: INK, boxWidth: 14, boxHeight: 3 } },
          tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + format(ctx.raw, d.unit) } },
        },
      },
    };
  }

  function referenceLines(d) {
    const lines = [];
    if (d.target !== null && d.target !== undefined) {
      lines.push({ label: "Target", data: flat(d.labels, d.target), borderColor: GOOD, borderDash: [6, 4],
        borderWidth: 1.5, pointRadius: 0, pointHoverRadius: 0 });
    }
    if (d.baseline !== null && d.baseline !== undefined) {
      lines.push({ label: "Baseline", data: flat(d.labels, d.baseline), borderColor: MUTED, borderDash: [2, 3],
        borderWidth: 1.5, pointRadius: 0, pointHoverRadius: 0 });
    }
    return lines;
  }

  function sparklineConfig(d) {
    return {
      type: "line",
      data: {
        labels: d.labels.map(day),
        datasets: [
          { label: "Value", data: d.values, borderColor: BRAND, backgroundColor: BRAND, borderWidth: 2,
            pointRadius: 0, pointHoverRadius: 3, tension: 0.25, spanGaps: true },
          ...referenceLines(d),
        ],
      },
      options: {
        responsive: false,
        animation: false,
        events: [],
        layout: { padding: 3 },
        scales: { x: { display: false }, y: { display: false, grace: "8%" } },
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
      },
    };
  }

  function checkinsConfig(d) {
    return {
      type: "line",
      data: {
        labels: d.labels.map(day),
        datasets: [
          { label: "Computed from events", data: d.computed, borderColor: BRAND, backgroundColor: BRAND,
            borderWidth: 2, pointRadius: 2, tension: 0.2, spanGaps: true },
          { label: "Check-in by a person", data: d.manual, borderColor: ORANGE, backgroundColor: ORANGE,
            showLine: false, pointRadius: 6, pointStyle: "rectRot" },
          ...referenceLines(d),
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { color: MUTED, maxRotation: 0, autoSkipPadding: 14 }, grid: { display: false } },
          y: { grace: "10%", ticks: { color: MUTED, callback: (v) => format(v, d.unit) }, grid: { color: GRID } },
        },
        plugins: {
          legend: { position: "top", align: "start", labels: { color: INK, boxWidth: 14 } },
          tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ": " + format(ctx.raw, d.unit) } },
        },
      },
    };
  }

  function forecastConfig(d) {
    const BAND = "rgba(47, 84, 200, 0.16)";
    const datasets = [
      { label: "Weekly value", data: d.values, borderColor: BRAND, backgroundColor: BRAND,
        borderWidth: 2, pointRadius: 2, tension: 0.2, spanGaps: true },
      { label: "interval-low", data: d.low, borderColor: "transparent", backgroundColor: BAND,
        pointRadius: 0, pointHoverRadius: 0, fill: false },
      { label: d.level + "% interval", data: d.high, borderColor: "transparent", backgroundColor: BAND,
        pointRadius: 0, pointHoverRadius: 0, fill: "-1" },
      { label: "Forecast", data: d.mean, borderColor: BRAND, backgroundColor: BRAND, borderDash: [5, 4],
        borderWidth: 2, pointRadius: 0, pointHoverRadius: 3 },
    ];
    if (d.with_experiments && d.with_experiments.length) {
      datasets.push({ label: "With experiments shipped", data: d.with_experiments, borderColor: ORANGE,
        backgroundColor: ORANGE, showLine: false, pointRadius: 7, pointStyle: "rectRot" });
    }
    datasets.push(...referenceLines({ labels: d.labels, target: d.target }));
    return {
      type: "line",
      data: { labels: d.labels.map(day), datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { color: MUTED, maxRotation: 0, autoSkipPadding: 14 }, grid: { display: false } },
          y: { grace: "10%", ticks: { color: MUTED, callback: (v) => format(v, d.unit) }, grid: { color: GRID } },
        },
        plugins: {
          legend: { position: "top", align: "start",
            labels: { color: INK, boxWidth: 14, filter: (item) => item.text !== "interval-low" } },
          tooltip: {
            filter: (item) => item.raw !== null && item.raw !== undefined,
            callbacks: { label: (ctx) => (ctx.dataset.label === "interval-low" ? "Interval low" :
              ctx.dataset.label === d.level + "% interval" ? "Interval high" : ctx.dataset.label) +
              ": " + format(ctx.raw, d.unit) },
          },
        },
      },
    };
  }

  const builders = { lines: linesConfig, sparkline: sparklineConfig, checkins: checkinsConfig, forecast: forecastConfig };

  function renderChart(canvas) {
    if (canvas.dataset.rendered || typeof Chart === "undefined") return;
    const build = builders[canvas.dataset.outcomesChart];
    if (!build) return;
    new Chart(canvas, build(JSON.parse(canvas.dataset.config)));
    canvas.dataset.rendered = "1";
  }

  // --- a recompute's progress --------------------------------------------------------------
  const STEP_NAMES = {
    daily: "daily KPIs from",
    cohort_day: "daily signup cohorts from",
    cohort_week: "weekly signup cohorts from",
    cohort_table: "the cohort table from",
    lists: "PQL and feature-request lists",
  };
  function stepText(message) {
    const [family, first] = (message || "").split(" ");
    if (!STEP_NAMES[family]) return message || "";
    return "Computed " + STEP_NAMES[family] + (family === "lists" ? "" : " " + day(first));
  }

  function followJob(box) {
    const bar = box.querySelector("[data-job-bar]");
    const fill = bar.querySelector("span");
    const percent = box.querySelector("[data-job-percent]");
    const message = box.querySelector("[data-job-message]");
    const done = box.querySelector("[data-job-done]");
    const hint = box.querySelector("[data-job-nojs]");
    if (hint) hint.hidden = true;
    let failures = 0;

    function show(job) {
      const finished = job.status === "succeeded";
      const value = finished ? 100 : Math.round((job.progress || 0) * 100);
      fill.style.width = value + "%";
      bar.setAttribute("aria-valuenow", String(value));
      percent.textContent = value + "%";
      if (finished) {
        const result = job.result || {};
        message.textContent = "Finished: " + (result.rows_written ?? 0).toLocaleString("en-US") +
          " values in " + (result.steps ?? 0) + " steps.";
        done.hidden = false;
      } else if (job.status === "failed") {
        bar.classList.add("failed");
        message.textContent = "Failed: " + (job.error || "see the job") + ". The previous values are kept.";
      } else if (job.status === "queued") {
        message.textContent = "Queued: waiting for a worker.";
      } else {
        message.textContent = "Running: " + stepText(job.message) + ".";
      }
      box.dataset.jobStatus = job.status;
    }

    function tick() {
      fetch(box.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then((job) => {
          failures = 0;
          show(job);
          if (job.status === "queued" || job.status === "running") setTimeout(tick, POLL_MS);
        })
        .catch(() => {
          failures += 1;
          if (failures > 8) {
            message.textContent = "Lost contact with the server; reload the page to check the progress.";
            return;
          }
          setTimeout(tick, POLL_MS * 2 ** Math.min(failures, 4));
        });
    }
    if (box.dataset.jobStatus === "queued" || box.dataset.jobStatus === "running") tick();
  }

  function start() {
    document.querySelectorAll("canvas[data-outcomes-chart]").forEach(renderChart);
    document.querySelectorAll("[data-job-url]").forEach(followJob);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
