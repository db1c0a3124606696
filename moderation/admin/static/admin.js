// Live countdowns for elements with data-due (ISO 8601 UTC). No framework, no network calls.
(function () {
  function fmt(ms) {
    var overdue = ms < 0; ms = Math.abs(ms);
    var h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000), s = Math.floor((ms % 60000) / 1000);
    var text = (h > 0 ? h + "h " : "") + (h > 0 || m > 0 ? m + "m " : "") + s + "s";
    return overdue ? "OVERDUE by " + text : text + " left";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      el.textContent = fmt(due - now);
      el.classList.toggle("overdue", due < now);
    });
  }
  tick(); setInterval(tick, 1000);
})();
