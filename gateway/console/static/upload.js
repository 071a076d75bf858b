// upload.js moves an upload form's progress bar with htmx's upload progress
// events, and computes the chosen file's SHA-256 in the browser, which lets
// the console stream the file straight through to the service (without it
// the console hashes the file first). Without JavaScript the form is a
// plain post and nothing here is needed.
(function () {
  "use strict";

  function uploadForm(el) {
    return el && el.closest ? el.closest("form[data-upload]") : null;
  }

  function bar(form) {
    return form ? form.querySelector("progress") : null;
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var b = bar(uploadForm(e.target));
    if (b) {
      b.value = 0;
    }
  });

  document.addEventListener("htmx:xhr:progress", function (e) {
    var b = bar(uploadForm(e.target));
    var d = e.detail;
    if (!b || !d || !d.lengthComputable || !d.total) {
      return;
    }
    var pct = Math.min(100, Math.round((d.loaded * 100) / d.total));
    // The upload's progress, then the answer's: the bar only moves on.
    if (pct > Number(b.value)) {
      b.value = pct;
    }
  });

  function hex(buf) {
    var out = "";
    new Uint8Array(buf).forEach(function (x) {
      out += (x < 16 ? "0" : "") + x.toString(16);
    });
    return out;
  }

  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input || input.type !== "file") {
      return;
    }
    var form = uploadForm(input);
    var sum = form ? form.querySelector('input[name="sha256"]') : null;
    if (!sum) {
      return;
    }
    sum.value = "";
    var file = input.files && input.files[0];
    if (!file || !window.crypto || !window.crypto.subtle || !file.arrayBuffer) {
      return;
    }
    file.arrayBuffer().then(function (b) {
      return window.crypto.subtle.digest("SHA-256", b);
    }).then(function (d) {
      if (input.files[0] === file) {
        sum.value = hex(d);
      }
    }).catch(function () {
      sum.value = "";
    });
  });
})();
