// A tiny client-side router and interactive elements for the interaction tests.
document.addEventListener('DOMContentLoaded', function () {
  var view = document.getElementById('view');
  function render(title) {
    document.title = title;
    view.innerHTML = '<h1>' + title + '</h1>';
  }
  document.getElementById('to-products').addEventListener('click', function (e) {
    e.preventDefault();
    history.pushState({ page: 'product' }, '', '/spa/products/42');
    setTimeout(function () {
      render('Product 42');
    }, 30);
  });
  document.getElementById('live').addEventListener('click', function () {
    var p = document.createElement('p');
    p.textContent = 'line';
    view.appendChild(p);
  });
  document.getElementById('signup').addEventListener('submit', function (e) {
    e.preventDefault();
    view.appendChild(document.createTextNode('thanks'));
  });
  window.router = {
    replace: function () {
      history.replaceState({}, '', '/spa/products/42?tab=reviews');
      render('Product 42 reviews');
    },
    hash: function () {
      location.hash = '#details';
    },
    back: function () {
      history.back();
    },
  };
});
