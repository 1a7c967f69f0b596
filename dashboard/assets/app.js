// qctl dashboard: live refresh of the numbers, select-all boxes and confirmations. No framework.
(function () {
  "use strict";

  // busy reports whether the person is in the middle of something a refresh would undo.
  function busy(root) {
    var a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA")) return true;
    if (root.querySelector("input[type=checkbox]:checked, details[open]")) return true;
    var inputs = root.querySelectorAll("form[method=post] input:not([type=hidden])");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value !== inputs[i].defaultValue) return true;
    }
    return false;
  }

  function refresh() {
    var live = document.getElementById("live");
    if (!live || document.hidden || busy(live)) return;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "refresh" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || busy(live)) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (!next) return;
        next.querySelectorAll(".flash.ok").forEach(function (f) { f.remove(); });
        live.innerHTML = next.innerHTML;
        document.dispatchEvent(new CustomEvent("qctl:refreshed", { detail: live }));
      })
      .catch(function () {});
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.matches && t.matches("input[data-all]")) {
      document.querySelectorAll("input[name='" + t.dataset.all + "']").forEach(function (b) { b.checked = t.checked; });
    }
    var c = t.closest && t.closest("[data-confirm]");
    if (c && !window.confirm(c.dataset.confirm)) e.preventDefault();
  });

  var every = parseInt(document.body.dataset.refresh || "0", 10);
  if (every > 0) setInterval(refresh, every);
})();
