// Rendezvous dashboard: auto-refresh that keeps the page's state, and
// opening a request in a dialog. The page works without this script (the
// selects then need the Apply button, and a request opens as its own page).
"use strict";
(function () {
  document.documentElement.classList.add("js");
  var form = document.querySelector("form.controls");
  var status = document.getElementById("refresh-status");
  var dialog = document.getElementById("record-dialog");

  // Changing a select reloads with the new query string: the state lives
  // in the URL, so a reload, a bookmark or a shared link shows the same.
  if (form) {
    form.addEventListener("change", function () { form.submit(); });
  }

  function setParam(name, value) {
    var u = new URL(location.href);
    if (value === null) { u.searchParams.delete(name); } else { u.searchParams.set(name, value); }
    history.replaceState(null, "", u);
  }

  // Auto-refresh: fetch the same URL and swap <main>, keeping the scroll
  // position and any open dialog. Skipped while the tab is hidden or a
  // request is open.
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var busy = false;
  function refresh() {
    if (busy || document.hidden || (dialog && dialog.open)) { return; }
    busy = true;
    fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) {
          var y = window.scrollY;
          main.replaceChildren.apply(main, Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); }));
          var win = doc.querySelector(".window"), cur = document.querySelector(".window");
          if (win && cur) { cur.replaceChildren.apply(cur, Array.prototype.map.call(win.childNodes, function (n) { return document.importNode(n, true); })); }
          window.scrollTo(0, y);
        }
        if (status) { status.textContent = "updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function (err) {
        if (status) { status.textContent = "refresh failed: " + err.message; }
      })
      .finally(function () { busy = false; });
  }
  if (seconds > 0) { setInterval(refresh, seconds * 1000); }

  // Opening a request: load its record fragment into the dialog, and keep
  // ?request=ID in the URL so a reload reopens it.
  function openRecord(id) {
    if (!dialog) { return; }
    fetch("/ui/requests/" + encodeURIComponent(id) + "?fragment=1", { headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var body = dialog.querySelector(".dialog-body");
        body.replaceChildren.apply(body, Array.prototype.map.call(doc.body.childNodes, function (n) { return document.importNode(n, true); }));
        dialog.querySelector("h2").textContent = "Request " + id;
        if (!dialog.open) { dialog.showModal(); }
        setParam("request", id);
      })
      .catch(function (err) {
        if (status) { status.textContent = "cannot open request: " + err.message; }
      });
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.record-link[data-id]");
    if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
    ev.preventDefault();
    openRecord(a.getAttribute("data-id"));
  });
  if (dialog) {
    dialog.addEventListener("close", function () { setParam("request", null); });
    var initial = new URL(location.href).searchParams.get("request");
    if (initial) { openRecord(initial); }
  }
})();
