/* ClosedLoop widget __VERSION__: an NPS, CSAT or CES card for a signed-in visitor.
   No framework, no cookies, no eval, no inline style: the card lives in a shadow root and
   takes its look from widget.css, served by the daemon beside this file (the brand colour
   is set through the CSSOM, which a Content-Security-Policy allows). */
(function (w, d) {
  "use strict";
  var VERSION = "__VERSION__";
  var me = d.currentScript;
  if (!me || (w.ClosedLoop && w.ClosedLoop.version)) return;
  var base = me.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var site = me.getAttribute("data-site");
  var who = null, seen = null, pending = false, host = null;

  function api(action, body) {
    body.email = who.email;
    body.hash = who.hash;
    return fetch(base + "/widget/v1/" + encodeURIComponent(site) + "/" + action, {
      method: "POST", mode: "cors", credentials: "omit", cache: "no-store",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw j; return j; });
    });
  }

  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function button(cls, text, onClick) {
    var b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function close() {
    if (host && host.parentNode) host.parentNode.removeChild(host);
    host = null;
  }

  function check(force) {
    var here = location.pathname + location.search;
    if (!who || !site || pending || host || (!force && here === seen)) return;
    seen = here;
    pending = true;
    var zone = null;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }
    api("check", {name: who.name, language: who.language, timezone: zone}).then(function (j) {
      pending = false;
      if (j.survey && who && !host) show(j.survey);
    }, function () { pending = false; });
  }

  function show(s) {
    var t = s.texts;
    host = el("div");
    host.setAttribute("data-closedloop", VERSION);
    host.hidden = true; /* until the stylesheet is in: never an unstyled flash */
    var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
    var link = el("link");
    link.rel = "stylesheet";
    link.href = base + "/widget.css?v=" + VERSION;
    link.addEventListener("load", function () { if (host) host.hidden = false; });
    link.addEventListener("error", function () {
      if (w.console) w.console.warn("ClosedLoop: widget.css was refused (CSP style-src?)");
    });
    var card = el("section", "cl-card cl-" + s.type);
    card.setAttribute("role", "dialog");
    card.setAttribute("aria-label", s.question);
    card.lang = s.language;
    if (/^#[0-9a-fA-F]{3,8}$/.test(s.color || "")) card.style.setProperty("--cl-accent", s.color);
    var note = el("p", "cl-note");
    note.setAttribute("role", "status");
    var scale = el("div", "cl-scale");
    var form = el("form", "cl-follow");
    form.hidden = true;
    var label = el("label", null, s.follow_up + " " + t.optional);
    var area = el("textarea");
    area.maxLength = 5000;
    area.rows = 3;
    label.appendChild(area);
    var send = el("button", "cl-send", t.send);
    send.type = "submit";
    form.appendChild(label);
    form.appendChild(send);

    function failed() { note.textContent = t.failed; }
    function thanks() {
      while (card.firstChild) card.removeChild(card.firstChild);
      card.appendChild(el("p", "cl-thanks", t.thanks));
      setTimeout(close, 4000);
    }
    s.points.forEach(function (n) {
      var b = button("cl-point", String(n), function () {
        note.textContent = "";
        api("answer", {survey: s.id, score: n}).then(function () {
          var all = scale.querySelectorAll("button");
          for (var i = 0; i < all.length; i++) all[i].classList.remove("cl-on");
          b.classList.add("cl-on");
          form.hidden = false;
          area.focus();
        }, failed);
      });
      b.setAttribute("data-score", String(n));
      scale.appendChild(b);
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = area.value.replace(/^\s+|\s+$/g, "");
      if (!text) { thanks(); return; }
      send.disabled = true;
      api("answer", {survey: s.id, comment: text}).then(thanks, function () {
        send.disabled = false;
        failed();
      });
    });
    function notNow() {
      close();
      api("dismiss", {}).then(null, function () {});
    }
    var labels = el("div", "cl-labels");
    labels.appendChild(el("span", null, s.low_label));
    labels.appendChild(el("span", null, s.high_label));
    card.appendChild(button("cl-close", "\u00d7", notNow));
    card.lastChild.setAttribute("aria-label", t.close);
    card.appendChild(el("p", "cl-question", s.question));
    card.appendChild(scale);
    card.appendChild(labels);
    card.appendChild(form);
    card.appendChild(note);
    card.appendChild(button("cl-later", t.not_now, notNow));
    root.appendChild(link);
    root.appendChild(card);
    d.body.appendChild(host);
  }

  var api_ = {
    version: VERSION,
    /* ClosedLoop.identify({email, hash, name, language}): hash is the hex
       HMAC-SHA256 of the e-mail with the site's secret, computed by your server. */
    identify: function (o) {
      if (!o || !o.email || !o.hash) return;
      if (who && who.email !== String(o.email)) close();
      who = {email: String(o.email), hash: String(o.hash),
             name: o.name ? String(o.name) : null, language: o.language ? String(o.language) : null};
      check(true);
    },
    /* ClosedLoop.page(): the app changed page without touching the history. */
    page: function () { check(true); },
    /* ClosedLoop.reset(): the visitor signed out. */
    reset: function () { who = null; seen = null; close(); }
  };
  var queued = w.ClosedLoop && w.ClosedLoop.q;
  w.ClosedLoop = api_;
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      setTimeout(function () { check(false); }, 0);
      return result;
    };
  });
  w.addEventListener("popstate", function () { check(false); });
  if (me.getAttribute("data-email")) {
    api_.identify({email: me.getAttribute("data-email"), hash: me.getAttribute("data-hash"),
                   name: me.getAttribute("data-name"), language: me.getAttribute("data-language")});
  }
  if (queued && queued.forEach) {
    queued.forEach(function (call) { if (api_[call[0]]) api_[call[0]].apply(api_, call[1] || []); });
  }
})(window, document);
