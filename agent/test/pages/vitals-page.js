// Reference values: the web-vitals library loaded on its own (window.webVitals), reported to
// the test server so that the test can compare them with what the agent stored.
(function () {
  var report = function (m) {
    var a = m.attribution || {};
    navigator.sendBeacon(
      '/__report',
      JSON.stringify({
        name: m.name,
        value: m.value,
        target: a.target || a.interactionTarget || a.largestShiftTarget || null,
      }),
    );
  };
  webVitals.onLCP(report);
  webVitals.onCLS(report);
  webVitals.onINP(report);
  webVitals.onFCP(report);
  // Tells the test when web-vitals has processed the interaction (it does so when idle).
  webVitals.onINP(
    function (m) {
      window.__inpSeen = m.value;
    },
    { reportAllChanges: true },
  );
  // A layout shift: a banner is inserted above the text 300 ms after DOMContentLoaded.
  document.addEventListener('DOMContentLoaded', function () {
    setTimeout(function () {
      var b = document.createElement('div');
      b.className = 'banner';
      b.id = 'banner';
      document.getElementById('slot').appendChild(b);
    }, 300);
    // A slow click handler (INP).
    document.getElementById('slow').addEventListener('click', function slowHandler() {
      var end = performance.now() + 250;
      while (performance.now() < end) {}
      document.getElementById('slow').textContent = 'done';
    });
  });
})();
