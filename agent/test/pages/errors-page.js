// Test actions, called by the test through page.evaluate(() => actions.NAME()).
window.actions = {
  throwError: function () {
    setTimeout(function onTimer() {
      throwDeep();
    }, 0);
  },
  reject: function () {
    Promise.reject(new Error('rejected from the test page'));
  },
  rejectString: function () {
    Promise.reject('plain string reason');
  },
  consoleError: function () {
    console.error('something went wrong', 42);
  },
  brokenImage: function () {
    var img = document.createElement('img');
    img.src = '/missing.png?from=test';
    document.body.appendChild(img);
  },
  brokenScript: function () {
    var s = document.createElement('script');
    s.src = '/missing-script.js';
    document.head.appendChild(s);
  },
  fetch500: function () {
    return fetch('/api/fail').then(function (r) {
      return r.status;
    });
  },
  fetchUser: function () {
    return fetch('/api/users/123?expand=1').then(function (r) {
      return r.json();
    });
  },
  fetchRequestObject: function () {
    return fetch(new Request('/api/echo', { method: 'POST', body: 'hello' })).then(function (r) {
      return r.json();
    });
  },
  xhrUser: function () {
    return new Promise(function (resolve) {
      var x = new XMLHttpRequest();
      x.open('GET', '/api/users/456');
      x.onload = function () {
        resolve(JSON.parse(x.responseText));
      };
      x.send();
    });
  },
  xhrPost: function () {
    return new Promise(function (resolve) {
      var x = new XMLHttpRequest();
      x.open('POST', '/api/echo');
      x.setRequestHeader('Content-Type', 'text/plain');
      x.onloadend = function () {
        resolve(x.status);
      };
      x.send('0123456789');
    });
  },
  fetchNetworkError: function () {
    return fetch('http://127.0.0.1:1/nothing-listens-here').then(
      function () {
        return 'ok';
      },
      function (e) {
        return e.name;
      },
    );
  },
  fetchAbort: function () {
    var c = new AbortController();
    var p = fetch('/api/slow?delay=3000', { signal: c.signal }).then(
      function () {
        return 'ok';
      },
      function (e) {
        return e.name;
      },
    );
    setTimeout(function () {
      c.abort();
    }, 50);
    return p;
  },
};
function throwDeep() {
  throw new TypeError('boom from the test page');
}
