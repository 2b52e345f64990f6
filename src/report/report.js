// Progressive enhancement only: the report reads the same without this script.
(function () {
  var filter = document.querySelector('.filter');
  if (filter) {
    filter.hidden = false;
    var rows = document.querySelectorAll('table.matrix tbody tr');
    filter.addEventListener('click', function (e) {
      var show = e.target.getAttribute && e.target.getAttribute('data-show');
      if (!show) return;
      filter.querySelectorAll('button').forEach(function (b) { b.classList.toggle('on', b === e.target); });
      rows.forEach(function (r) {
        var v = r.getAttribute('data-verdict');
        var visible = show === 'all' || v === show ||
          (show === 'problem' && v !== 'pass' && v !== 'not testable');
        r.style.display = visible ? '' : 'none';
      });
    });
  }
  // Print every transcript, not only the open ones.
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
})();
