// The page's only script, in the spirit of jquery_ujs: no library, and every form works without it.
// 1. Forms marked data-remote (follow/unfollow) are sent with fetch; the server answers JSON with
//    the new #follow_form content and the followers count, swapped in without a page load.
//    If anything goes wrong, the form is submitted the ordinary way.
// 2. Forms marked data-confirm ("You sure?") ask first.
// 3. The Account dropdown opens on click (it also opens on hover and keyboard focus in CSS).
// 4. A Gravatar that cannot load (gravatar.com unreachable) shows the local placeholder image
//    (the script tag's data-gravatar-placeholder) at the size asked of Gravatar (s=), not a
//    broken image; the Gravatar address stays in the image's data-gravatar.
(function () {
  "use strict";

  var placeholder = document.currentScript && document.currentScript.dataset.gravatarPlaceholder;

  function showPlaceholder(img) {
    if (!placeholder || img.dataset.gravatar) return;
    var size = /[?&]s=(\d+)/.exec(img.src);
    img.dataset.gravatar = img.src;
    if (size) img.width = img.height = Number(size[1]);
    img.src = placeholder;
  }

  // An image's error event does not bubble: listen while it goes down (capture).
  document.addEventListener("error", function (event) {
    var img = event.target;
    if (img instanceof HTMLImageElement && img.classList.contains("gravatar")) showPlaceholder(img);
  }, true);
  // This script is deferred: some may have failed before it ran.
  var gravatars = document.querySelectorAll("img.gravatar");
  for (var i = 0; i < gravatars.length; i++) {
    if (gravatars[i].complete && gravatars[i].naturalWidth === 0) showPlaceholder(gravatars[i]);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (form.dataset.remote !== "true" || !window.fetch) return;
    event.preventDefault();
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" }
    })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        document.getElementById("follow_form").innerHTML = data.follow_form;
        document.getElementById("followers").textContent = data.followers;
      })
      .catch(function () { form.submit(); });
  });

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".dropdown-toggle");
    var open = document.querySelectorAll(".dropdown.open");
    for (var i = 0; i < open.length; i++) {
      if (!toggle || open[i] !== toggle.parentNode) open[i].classList.remove("open");
    }
    if (toggle) {
      event.preventDefault();
      toggle.parentNode.classList.toggle("open");
    }
  });
})();
