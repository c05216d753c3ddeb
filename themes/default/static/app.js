/* Pressroom default theme: small progressive enhancements, no dependencies. Every page reads and
   works without this file.
   - Timecode links (a.timecode[data-t]) seek the page's video and play it; a #t=SECONDS fragment
     on arrival does the same.
   - The search page starts the pagefind UI and runs the query from ?q=.
*/
(function () {
  "use strict";

  function player() {
    return document.getElementById("player");
  }

  function seek(seconds) {
    var video = player();
    if (!video || !isFinite(seconds)) return false;
    var go = function () {
      try { video.currentTime = seconds; } catch (e) { /* not seekable yet */ }
      var played = video.play();
      if (played && played.catch) played.catch(function () { /* autoplay refused: stay paused */ });
    };
    if (video.readyState >= 1) {
      go();
    } else {
      video.preload = "metadata";
      video.addEventListener("loadedmetadata", go, { once: true });
      video.load();
    }
    video.scrollIntoView({ block: "center", behavior: "smooth" });
    return true;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.timecode[data-t]") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (seek(parseFloat(link.getAttribute("data-t")))) {
      event.preventDefault();
      if (history.replaceState) history.replaceState(null, "", "#t=" + link.getAttribute("data-t"));
      var active = document.querySelectorAll("a.timecode.playing");
      for (var i = 0; i < active.length; i++) active[i].classList.remove("playing");
      link.classList.add("playing");
    }
  });

  function seekFromHash() {
    var match = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
    if (match) seek(parseFloat(match[1]));
  }

  function startSearch() {
    var host = document.querySelector("[data-search-ui]");
    if (!host || typeof window.PagefindUI !== "function") return;
    var ui = new window.PagefindUI({
      element: "#search",
      showSubResults: true,
      showImages: false,
      resetStyles: false,
      translations: { placeholder: host.getAttribute("data-placeholder") || undefined }
    });
    // pagefind's field has only a placeholder and a title: give it a name
    var field = host.querySelector("input");
    if (field) field.setAttribute("aria-label", host.getAttribute("data-label") || "");
    var query = new URLSearchParams(location.search).get("q");
    if (query) {
      ui.triggerSearch(query);
      var header = document.getElementById("site-search");
      if (header) header.value = query;
    }
  }

  function ready() {
    seekFromHash();
    startSearch();
  }

  // Deferred scripts (pagefind's UI among them) have all run by DOMContentLoaded.
  if (document.readyState === "complete") {
    ready();
  } else {
    document.addEventListener("DOMContentLoaded", ready);
  }
})();
