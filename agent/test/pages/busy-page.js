// Two long tasks shortly after First Contentful Paint, a 200 ms and a 120 ms busy loop 300 ms
// apart, then nothing: TBT is (200 - 50) + (120 - 50) = 220 ms and TTI the end of the second
// task. window.__tasks records when each loop really ran (performance.now() terms).
(function () {
  window.__tasks = [];
  var spin = function (ms) {
    var s = performance.now();
    while (performance.now() - s < ms);
    window.__tasks.push([s, performance.now()]);
  };
  var po = new PerformanceObserver(function (list) {
    if (!list.getEntriesByName('first-contentful-paint').length) return;
    po.disconnect();
    setTimeout(function () {
      spin(200);
      setTimeout(function () {
        spin(120);
      }, 300);
    }, 100);
  });
  po.observe({ type: 'paint', buffered: true });
})();
