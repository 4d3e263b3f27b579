// Starts Redoc with the server's settings (a data attribute, not an inline script) and the
// system's own fonts instead of web fonts from a CDN.
(function () {
  const container = document.getElementById("redoc-container");
  const systemFonts =
    'system-ui, -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", Arial, sans-serif';
  const settings = Object.assign({}, JSON.parse(container.dataset.settings || "{}"), {
    theme: {
      typography: {
        fontFamily: systemFonts,
        headings: { fontFamily: systemFonts },
        code: { fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace' },
      },
    },
  });
  Redoc.init(container.dataset.schemaUrl, settings, container);
})();
