// A layout shift whose source is a text node: lines of text inserted above the bare text node of
// #copy move it down. `window.__shifts` counts the layout shifts the page has seen.
(function () {
  window.__shifts = 0;
  new PerformanceObserver(function (list) {
    window.__shifts += list.getEntries().length;
  }).observe({ type: 'layout-shift', buffered: true });
  window.shiftText = function () {
    var copy = document.getElementById('copy');
    for (var i = 0; i < 4; i++) {
      copy.insertBefore(document.createElement('br'), copy.firstChild);
      copy.insertBefore(document.createTextNode('Inserted line ' + i), copy.firstChild);
    }
  };
})();
