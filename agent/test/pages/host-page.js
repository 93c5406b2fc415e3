// A host page with its own globals, error handlers, throws, and fetch/XHR/history use.
// It records what it observes in window.hostResult; the test compares the result with and
// without the agent.
var hostCounter = 0;
function hostHelper(x) {
  return x * 2;
}
window.hostLog = [];
window.onerror = function (message, source, line, col, err) {
  hostLog.push('onerror:' + message + ':' + (err && err.name) + ':' + line);
  return false;
};
window.addEventListener('unhandledrejection', function (e) {
  hostLog.push('rejection:' + (e.reason && e.reason.message));
});
window.addEventListener(
  'error',
  function (e) {
    if (e.target && e.target.tagName) hostLog.push('resource-error:' + e.target.tagName);
  },
  true,
);

window.runHost = function () {
  var out = {};
  setTimeout(function () {
    hostCounter++;
    throw new Error('host throws ' + hostCounter);
  }, 0);
  Promise.reject(new Error('host rejects'));
  var img = new Image();
  img.src = '/missing.png?host=1';
  document.body.appendChild(img);
  history.pushState({ host: 1 }, '', '/host/page?x=1');
  out.state = JSON.stringify(history.state);
  out.path = location.pathname + location.search;
  history.replaceState(null, '');
  out.replaced = history.state;
  out.helper = hostHelper(21);
  out.fetchType = typeof fetch;
  out.lengths = [
    fetch.length,
    XMLHttpRequest.prototype.open.length,
    XMLHttpRequest.prototype.send.length,
    history.pushState.length,
    history.replaceState.length,
    console.error.length,
  ];
  console.error('host console error', 1);
  var bad = {};
  try {
    bad.fetch = fetch;
    bad.fetch('/api/users/1');
    out.illegal = 'no error';
  } catch (e) {
    out.illegal = e.name;
  }
  return Promise.all([
    fetch('/api/echo', { method: 'POST', body: 'payload', headers: { 'x-custom': '1' } })
      .then(function (r) {
        return r.json();
      })
      .then(function (j) {
        return j.body + ':' + j.method;
      }),
    fetch(new Request('/api/users/9')).then(function (r) {
      return r.status + ':' + r.headers.get('content-type');
    }),
    fetch('http://127.0.0.1:1/x').then(
      function () {
        return 'ok';
      },
      function (e) {
        return 'rejected:' + e.name;
      },
    ),
    new Promise(function (resolve) {
      var x = new XMLHttpRequest();
      x.open('GET', '/api/users/5', false);
      x.send();
      var j = JSON.parse(x.responseText);
      delete j.traceparent; // the agent's traceparent is the one intended difference
      resolve('sync:' + x.status + ':' + JSON.stringify(j));
    }),
    new Promise(function (resolve) {
      var x = new XMLHttpRequest();
      x.onreadystatechange = function () {
        if (x.readyState === 4) resolve('async:' + x.status + ':' + x.responseType);
      };
      x.open('POST', '/api/echo');
      x.setRequestHeader('x-a', 'b');
      x.send('body');
    }),
  ])
    .then(function (r) {
      out.requests = r;
      return new Promise(function (res) {
        setTimeout(res, 200);
      });
    })
    .then(function () {
      out.log = hostLog.slice().sort();
      // The traceparent the agent adds is the one visible difference in request headers; the
      // echo endpoint returns it, so it is not part of the comparison.
      return out;
    });
};
