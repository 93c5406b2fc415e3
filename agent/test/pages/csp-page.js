window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
window.cspActions = {
  request: function () {
    return fetch('/api/users/7').then(function (r) {
      return r.status;
    });
  },
  fail: function () {
    setTimeout(function cspThrow() {
      throw new Error('csp page error');
    });
  },
};
