// Loaded before the Redoc bundle: the bundle hard-codes its maker's logo on cdn.redoc.ly; that
// one image becomes an empty inline one, so the API docs load nothing from another host.
(function () {
  const empty = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";
  const local = (value) => (String(value).startsWith("https://cdn.redoc.ly/") ? empty : value);
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, name === "src" ? local(value) : value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    get: src.get,
    set(value) { src.set.call(this, local(value)); },
    configurable: true,
  });
})();
