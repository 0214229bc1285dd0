// Attachments: upload the chosen file at once and insert its Markdown into the text area (the forms work without
// this script through their "Attach" button).
(function () {
  "use strict";
  function insert(textarea, text) {
    var start = textarea.selectionStart || textarea.value.length;
    var end = textarea.selectionEnd || start;
    var before = textarea.value.slice(0, start);
    var pad = before && !/\n$/.test(before) ? "\n" : "";
    textarea.value = before + pad + text + "\n" + textarea.value.slice(end);
    textarea.focus();
  }
  document.querySelectorAll(".attach[data-upload]").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    var button = box.querySelector(".attach-button");
    var status = box.querySelector(".attach-status");
    var form = box.closest("form");
    var textarea = document.getElementById(box.dataset.target);
    if (!input || !form || !textarea || !window.fetch) { return; }
    if (button) { button.hidden = true; }
    input.addEventListener("change", function () {
      if (!input.files || !input.files.length) { return; }
      var token = form.querySelector("input[name=csrf_token]");
      var data = new FormData();
      data.append("file", input.files[0]);
      data.append("csrf_token", token ? token.value : "");
      status.textContent = "…";
      fetch(box.dataset.upload, {method: "POST", body: data, credentials: "same-origin",
                                 headers: {"X-CSRF-Token": token ? token.value : ""}})
        .then(function (resp) {
          return resp.json().then(function (body) { return {ok: resp.ok, body: body}; },
                                  function () { return {ok: false, body: {message: resp.statusText}}; });
        })
        .then(function (result) {
          if (result.ok) {
            insert(textarea, result.body.markdown);
            status.textContent = "";
          } else {
            status.textContent = result.body.message || "error";
          }
          input.value = "";
        })
        .catch(function (err) { status.textContent = String(err); });
    });
  });
})();
