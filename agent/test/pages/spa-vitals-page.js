// An SPA whose routes have their own interactions and layout shifts: INP and CLS must be
// attributed to the route (view) they happened on.
(function () {
  // Tells the test when the reference web-vitals copy has processed an interaction (it does so
  // when idle).
  webVitals.onINP(function (m) { window.__inpSeen = m.value; }, { reportAllChanges: true });
  document.addEventListener('DOMContentLoaded', function () {
    var slow = document.getElementById('slow');
    var fast = document.getElementById('fast');
    // A slow click handler (INP) and a fast one.
    slow.addEventListener('click', function () {
      var end = performance.now() + 250;
      while (performance.now() < end) {}
      slow.textContent = 'done ' + location.pathname;
    });
    fast.addEventListener('click', function () {
      fast.textContent = 'clicked ' + location.pathname;
    });
    window.router = {
      // A soft navigation: only the heading's text changes (no layout shift).
      go: function (path, title) {
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
