// Live countdowns for elements with data-due (ISO 8601 UTC), audited image reveal, review keyboard
// shortcuts and select-all. No framework, no network calls except the reveal form's own POST.
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

  // Reveal: the server records the reveal first, then answers with the address of the original.
  document.querySelectorAll("form.reveal").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: { "Accept": "application/json" },
        body: new URLSearchParams(new FormData(form))
      }).then(function (response) {
        if (!response.ok) throw new Error("reveal refused: " + response.status);
        return response.json();
      }).then(function (data) {
        var figure = document.getElementById(form.getAttribute("data-target"));
        var img = figure.querySelector("img");
        img.src = data.src; img.alt = "Revealed image";
        figure.classList.add("revealed");
        figure.querySelector("figcaption").textContent = "Revealed; the reveal is in the audit log.";
      }).catch(function () { form.submit(); });
    });
  });

  // Review shortcuts: a allow, b block, e escalate, n next item, r reveal the image.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    var key = event.key.toLowerCase(), target = null;
    if (key === "n") target = document.getElementById("next-item");
    else if (key === "r") target = document.querySelector("form.reveal button");
    else target = document.querySelector("#verdict button[data-key='" + key + "']");
    if (target) { event.preventDefault(); target.click(); }
  });

  var all = document.getElementById("select-all");
  if (all) all.addEventListener("change", function () {
    document.querySelectorAll("input[name=item_ids]:not(:disabled)").forEach(function (box) { box.checked = all.checked; });
  });
})();
