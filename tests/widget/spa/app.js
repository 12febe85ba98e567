/* The test single-page app: links change the route with history.pushState (no reload);
   the signed-in visitor comes from the app's own server (/me), which computed the hash. */
(function () {
  "use strict";
  window.bootId = Math.random().toString(36).slice(2);  /* changes only on a real reload */
  window.cspViolations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    window.cspViolations.push(e.violatedDirective + " " + e.blockedURI);
  });
  function closedLoop(method, args) {  /* the documented queue: the widget may load later */
    if (window.ClosedLoop && window.ClosedLoop.version) window.ClosedLoop[method].apply(null, args);
    else (window.ClosedLoop = window.ClosedLoop || {q: []}).q.push([method, args]);
  }
  function render() {
    var view = document.getElementById("view");
    if (view) view.textContent = "Page " + location.pathname;
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[data-route]");
    if (!link) return;
    e.preventDefault();
    history.pushState({}, "", link.getAttribute("href"));
    render();
  });
  window.addEventListener("popstate", render);
  document.addEventListener("DOMContentLoaded", render);
  fetch("/me").then(function (r) { return r.json(); }).then(function (me) {
    if (me.email) closedLoop("identify", [me]);
  });
})();
