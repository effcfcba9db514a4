// The page's only script, in the spirit of jquery_ujs: no library, and every form works without it.
// 1. Forms marked data-remote (follow/unfollow) are sent with fetch; the server answers JSON with
//    the new #follow_form content and the followers count, swapped in without a page load.
//    If anything goes wrong, the form is submitted the ordinary way.
// 2. Forms marked data-confirm ("You sure?") ask first.
// 3. The Account dropdown opens on click (it also opens on hover and keyboard focus in CSS).
(function () {
  "use strict";

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
