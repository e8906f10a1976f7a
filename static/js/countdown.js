// "You can send a new email in 23 s.", drawn by the server, counted down to zero; then the
// sentence gives way to "You can send a new email now.", said once by its live region (the
// seconds themselves are not announced: a screen reader would speak every one of them).
for (const clock of document.querySelectorAll("[data-countdown]")) {
  const ends = Date.now() + Number(clock.dataset.countdown) * 1000;
  const [ticking, status] = clock.children;
  const seconds = ticking.querySelector("[data-seconds]");
  const tick = () => {
    const left = Math.ceil((ends - Date.now()) / 1000);
    if (left > 0) {
      seconds.textContent = String(left);
      setTimeout(tick, ends - Date.now() - (left - 1) * 1000);
      return;
    }
    ticking.remove();
    status.textContent = clock.dataset.done;
  };
  tick();
}
