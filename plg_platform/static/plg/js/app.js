// Small progressive enhancements; every page works without them.
//   <button data-copy="ID">: copy the text of element ID to the clipboard and say so.
//   [data-show-when="NAME"][data-show-for="A B"]: shown only while the checked radio NAME is A or B.
//   [data-js-only]: hidden until this script runs.
//   <dialog> filled by htmx opens as a modal; [data-close-dialog] closes it.
//   <button data-confirm="…">: asks before the form is submitted.
//   <select data-submit-on-change>: submits its form when changed.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(source.innerText);
      button.textContent = "Copied";
    } catch (_error) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });

  function sync(name) {
    const checked = document.querySelector(`input[type=radio][name="${name}"]:checked`);
    document.querySelectorAll(`[data-show-when="${name}"]`).forEach((el) => {
      el.hidden = !checked || !el.dataset.showFor.split(" ").includes(checked.value);
    });
  }
  const showNames = () => new Set([...document.querySelectorAll("[data-show-when]")].map((el) => el.dataset.showWhen));
  showNames().forEach(sync);
  document.addEventListener("change", (event) => {
    if (event.target.matches("input[type=radio]") && showNames().has(event.target.name)) sync(event.target.name);
    // <select data-submit-on-change>: submit its form (the workspace switcher); no inline handler under the CSP.
    if (event.target.matches("[data-submit-on-change]") && event.target.form) event.target.form.submit();
  });

  // The design form's hypothesis, read back as the one sentence it will be stored as.
  const preview = document.querySelector("[data-hypothesis-preview]");
  if (preview) {
    const part = (id) => ((document.getElementById(id) || {}).value || "").trim().replace(/\.$/, "");
    const render = () => {
      const change = part("id_hypothesis_change");
      if (!change) {
        preview.textContent = "Your hypothesis will read here as one sentence.";
        return;
      }
      let text = "We believe " + change;
      const audience = part("id_hypothesis_audience");
      const outcome = part("id_hypothesis_outcome");
      const evidence = part("id_hypothesis_evidence");
      if (audience) text += " for " + audience;
      if (outcome) text += " will " + outcome;
      if (evidence) text += " because " + evidence;
      preview.textContent = text + ".";
    };
    document.addEventListener("input", (event) => {
      if ((event.target.id || "").startsWith("id_hypothesis_")) render();
    });
    render();
  }

  // <dialog>: content swapped in by htmx (e.g. the conclude form) opens it as a modal;
  // [data-close-dialog] closes it. Escape closes it too, and focus returns to the opener.
  document.addEventListener("htmx:afterSwap", (event) => {
    const root = event.target;
    showNames().forEach(sync);
    root.querySelectorAll && root.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
    const dialog = root.closest && root.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
  });
  document.addEventListener("click", (event) => {
    const close = event.target.closest("[data-close-dialog]");
    if (close && close.closest("dialog")) close.closest("dialog").close();
  });

  // <button data-confirm="Question?"> in a form: ask before submitting.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  document.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
})();
