// draft.js keeps each field of the request form marked invalid exactly
// while the complaint slot that its aria-describedby names holds a
// complaint: the form's live save replaces the slots' content out of band
// and leaves the fields, and what is typed in them, alone. Without
// JavaScript the page comes from the server with the marks already set.
(function () {
  "use strict";

  function sync(slot) {
    if (!slot || !slot.id || slot.id.slice(-5) !== "-slot") {
      return;
    }
    var bad = slot.querySelector(".field-error") !== null;
    document.querySelectorAll('[aria-describedby~="' + slot.id + '"]').forEach(function (el) {
      if (bad) {
        el.setAttribute("aria-invalid", "true");
      } else {
        el.removeAttribute("aria-invalid");
      }
    });
  }

  document.addEventListener("htmx:oobAfterSwap", function (e) {
    sync(e.detail && e.detail.target);
  });
})();
