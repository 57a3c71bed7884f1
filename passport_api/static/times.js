"use strict";
// Times are served as RFC 3339 UTC (<time datetime=...>); each reader sees them in their own
// time zone, with its offset: 2026-11-30 16:10:05 +01:00.
(function () {
  const pad = (n) => String(n).padStart(2, "0");
  for (const el of document.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    const off = -when.getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    const zone = `${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
    el.textContent = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
      `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())} ${zone}`;
    el.title = el.getAttribute("datetime");
  }
})();
