// ndx web UI: the only script, and no page needs it. A page showing work in progress (an
// import being read) marks an element with data-refresh-seconds; the page then reloads itself
// until the work is done. Without script, the page's own "Refresh" link does the same.
"use strict";
document.querySelectorAll("[data-refresh-seconds]").forEach(function (el) {
  var seconds = parseInt(el.getAttribute("data-refresh-seconds"), 10) || 2;
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
});
