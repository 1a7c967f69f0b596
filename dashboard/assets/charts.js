// qctl dashboard: the Overview's per-minute charts, drawn with the vendored uPlot
// (assets/uplot: uPlot 1.6.32, MIT, https://github.com/leeoniya/uPlot; see its LICENSE). Each
// .plot element carries its series as JSON in data-series (see dashboard/history.go); the charts
// are drawn again after every live refresh.
(function () {
  "use strict";
  var colours = { processed: "#1f7a4d", failed: "#c4312b", p50: "#2f5bd3", p99: "#b7791f" };

  function wait(ms) {
    if (ms == null) return "–";
    if (ms === 0) return "0";
    if (ms < 1) return ms.toFixed(2) + "ms";
    if (ms < 1000) return Math.round(ms) + "ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + "s";
    return (ms / 60000).toFixed(1) + "m";
  }

  function draw(el) {
    var s;
    try { s = JSON.parse(el.dataset.series); } catch (e) { return; }
    var wait_ = el.dataset.kind === "wait";
    var names = wait_ ? ["p50", "p99"] : ["processed", "failed"];
    var data = [s.t].concat(names.map(function (n) { return s[n]; }));
    var series = [{}].concat(names.map(function (n) {
      return { label: n, stroke: colours[n], width: 1.5, fill: wait_ ? null : colours[n] + "22",
        spanGaps: false, value: wait_ ? function (u, v) { return wait(v); } : undefined };
    }));
    var opts = {
      width: Math.max(el.clientWidth, 200), height: el.clientHeight || 150,
      legend: { show: false }, cursor: { drag: { x: false, y: false } },
      scales: { y: { range: function (u, lo, hi) { return [0, Math.max(hi || 0, wait_ ? 1 : 1) * 1.1]; } } },
      axes: [
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" } },
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" }, size: 64,
          values: wait_ ? function (u, vals) { return vals.map(wait); } : undefined }
      ],
      series: series
    };
    el.textContent = "";
    el.uplot = new uPlot(opts, data, el);
  }

  function drawAll(root) {
    if (!window.uPlot) return;
    root.querySelectorAll(".plot[data-series]").forEach(draw);
  }

  document.addEventListener("qctl:refreshed", function (e) { drawAll(e.detail); });
  var resized;
  window.addEventListener("resize", function () {
    clearTimeout(resized);
    resized = setTimeout(function () { drawAll(document); }, 200);
  });
  drawAll(document);
})();
