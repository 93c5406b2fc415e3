// Helpers of the replay test pages (an external script: the CSP page allows no inline code).
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
window.ticks = 0;
setInterval(function () {
  window.ticks++;
}, 100);
window.replayPage = {
  /** Adds a paragraph with `text` (a DOM change the replay must carry). */
  add: function (text) {
    var p = document.createElement('p');
    p.className = 'added';
    p.textContent = text;
    document.getElementById('out').appendChild(p);
  },
  /** Throws from a timer: the agent's onerror sees it. The time is returned. */
  fail: function () {
    var t = Date.now();
    setTimeout(function replayThrow() {
      throw new Error('replay page error');
    });
    return t;
  },
  /** Thousands of DOM changes per second until stopStorm(). */
  storm: function () {
    var box = document.getElementById('out');
    var n = 0;
    window.__storm = setInterval(function () {
      for (var i = 0; i < 100; i++) {
        var d = document.createElement('div');
        d.className = 'storm';
        d.setAttribute('data-n', String(n));
        d.textContent = 'storm row ' + n++ + ' ' + Math.random();
        box.appendChild(d);
        if (box.childNodes.length > 200) box.removeChild(box.firstChild);
      }
    }, 10);
  },
  stopStorm: function () {
    clearInterval(window.__storm);
  },
};
