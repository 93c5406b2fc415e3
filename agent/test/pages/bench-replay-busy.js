// A dashboard-like page that changes itself all the time: a board of 50 prices updated every
// 100 ms (text and a class per cell) and a feed that gains a row every 250 ms and keeps 30.
(function () {
  var body = document.querySelector('#board tbody');
  var cells = [];
  for (var r = 0; r < 10; r++) {
    var tr = document.createElement('tr');
    for (var c = 0; c < 5; c++) {
      var td = document.createElement('td');
      td.textContent = (100 + r * 5 + c).toFixed(2);
      tr.appendChild(td);
      cells.push(td);
    }
    body.appendChild(tr);
  }
  setInterval(function () {
    for (var i = 0; i < cells.length; i++) {
      var v = parseFloat(cells[i].textContent) + (Math.random() - 0.5);
      cells[i].textContent = v.toFixed(2);
      cells[i].className = Math.random() < 0.5 ? 'up' : 'down';
    }
  }, 100);
  var feed = document.getElementById('feed');
  var n = 0;
  setInterval(function () {
    var li = document.createElement('li');
    li.textContent = 'Trade ' + n++ + ' at ' + new Date().toISOString();
    feed.insertBefore(li, feed.firstChild);
    if (feed.childNodes.length > 30) feed.removeChild(feed.lastChild);
  }, 250);
})();
