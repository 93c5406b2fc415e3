// An SPA whose routes have their own interactions and layout shifts: each view (route) must get
// its own INP and CLS. The page measures them itself, independently of the agent: every
// interaction's longest Event Timing duration, every layout shift, and when each route began.
(function () {
  // Tells the test when the reference web-vitals copy has processed an interaction (it does so
  // when idle).
  webVitals.onINP(
    function (m) {
      window.__inpSeen = m.value;
    },
    { reportAllChanges: true },
  );
  window.__interactions = {}; // interactionId → { start, duration }: the longest entry
  window.__shifts = []; // { start, value, recentInput }
  window.__routes = []; // performance.now() of each soft navigation
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) {
      if (!e.interactionId) return;
      var o = window.__interactions[e.interactionId];
      if (!o || e.duration > o.duration)
        window.__interactions[e.interactionId] = {
          start: e.startTime,
          duration: e.duration,
          name: e.name,
        };
    });
  }).observe({ type: 'event', buffered: true, durationThreshold: 16 });
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) {
      window.__shifts.push({ start: e.startTime, value: e.value, recentInput: e.hadRecentInput });
    });
  }).observe({ type: 'layout-shift', buffered: true });

  var block = function (ms) {
    var end = performance.now() + ms;
    while (performance.now() < end) {}
  };
  document.addEventListener('DOMContentLoaded', function () {
    var slow = document.getElementById('slow');
    var medium = document.getElementById('medium');
    var fast = document.getElementById('fast');
    var nav = document.getElementById('nav');
    // Click handlers that block the main thread for 300 ms, 120 ms, or not at all.
    slow.addEventListener('click', function () {
      block(300);
      slow.textContent = 'done ' + location.pathname;
    });
    medium.addEventListener('click', function () {
      block(120);
      medium.textContent = 'done ' + location.pathname;
    });
    fast.addEventListener('click', function () {
      fast.textContent = 'clicked ' + location.pathname;
    });
    // A slow click that navigates: the interaction starts on the route it leaves.
    nav.addEventListener('click', function () {
      block(300);
      router.go('/spa-vitals/second', 'Second');
    });
    window.router = {
      // A soft navigation: only the heading's text changes (no layout shift).
      go: function (path, title) {
        window.__routes.push(performance.now());
        history.pushState({}, '', path);
        document.title = title;
        document.getElementById('title').textContent = title;
      },
      // A layout shift: a banner of `h` px inserted above the text.
      shift: function (h) {
        var b = document.createElement('div');
        b.className = 'banner';
        b.style.height = h + 'px';
        document.getElementById('slot').appendChild(b);
      },
    };
  });
})();
