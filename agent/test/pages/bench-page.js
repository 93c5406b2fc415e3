// A typical page's own work: build a list, call APIs, handle clicks.
(function () {
  var main = document.getElementById('main');
  var html = '';
  for (var i = 0; i < 300; i++)
    html +=
      '<li class="item"><a href="#i' +
      i +
      '">Item ' +
      i +
      '</a> <span class="price">' +
      (i * 3.5).toFixed(2) +
      '</span></li>';
  main.innerHTML = '<ul class="list">' + html + '</ul>';
  Promise.all([fetch('/api/users/1'), fetch('/api/users/2'), fetch('/api/users/3')])
    .then(function (rs) {
      return Promise.all(
        rs.map(function (r) {
          return r.json();
        }),
      );
    })
    .then(function (users) {
      document.getElementById('nav').textContent = users.length + ' users';
    });
  var x = new XMLHttpRequest();
  x.open('GET', '/api/users/4');
  x.send();
  document.getElementById('add').addEventListener('click', function () {
    var li = document.createElement('li');
    li.textContent = 'added';
    main.firstChild.appendChild(li);
  });
})();
