// A menu toggle whose click handler marks its state with classes (`is-open`, `active` on the
// button, `open` on the menu), and a banner dismissed by a handler that runs before the agent's
// own listeners (window, capture phase, registered before the agent loads): it removes the
// banner, and with it the button's ancestors.
(function () {
  window.addEventListener(
    'click',
    function (e) {
      if (e.target.closest && e.target.closest('.dismiss'))
        document.querySelector('.banner').remove();
    },
    true,
  );
  document.addEventListener('DOMContentLoaded', function () {
    var button = document.querySelector('.menu-toggle');
    button.addEventListener('click', function () {
      button.classList.toggle('is-open');
      button.classList.toggle('active');
      document.querySelector('.menu').classList.toggle('open');
    });
  });
})();
