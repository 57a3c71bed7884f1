"use strict";
// Re-fetch the server-rendered panel (escaped there) every few seconds: a used or expiring
// challenge is replaced by the server, and new check-ins appear.
(function () {
  const panel = document.getElementById("panel");
  const every = Number(panel.dataset.pollMs) || 2000;
  const url = "/panel" + window.location.search;
  async function refresh() {
    try {
      const response = await fetch(url, {cache: "no-store", credentials: "same-origin"});
      if (response.ok) {
        panel.innerHTML = await response.text();
      }
    } catch (e) {
      // the desk process may be restarting; try again on the next tick
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
})();
