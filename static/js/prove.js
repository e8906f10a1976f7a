// The proof of work the front door asks of a browser past its network's allowance
// (accounts/signin/front_door.py): ALTCHA's widget, served from this site (static/vendor/altcha),
// with its SHA-256 worker registered before it starts. The widget writes its answer into the
// form's "altcha" field; the server checks it once (accounts/signin/proof.py). The button shows
// only with this script, and works once the check is done; a status line says when it is.

const widget = document.querySelector("altcha-widget[data-widget]");

if (widget) {
  const send = document.querySelector("[data-proof-send]");
  const status = document.querySelector("[data-proof-status]");
  send.hidden = false;
  send.disabled = true;
  status.textContent = status.dataset.working;
  widget.addEventListener("statechange", (event) => {
    const done = event.detail?.state === "verified";
    send.disabled = !done;
    status.textContent = done ? status.dataset.done : status.dataset.working;
    if (done) send.focus();
  });
  await import(widget.dataset.widget);
  const worker = widget.dataset.worker;
  globalThis.$altcha.algorithms.set("SHA-256", () => new Worker(worker));
  // Started here, once the worker is known: the person sees it work, then presses the button.
  widget.verify();
}
