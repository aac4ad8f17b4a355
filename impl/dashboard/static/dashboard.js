// The page works without this script (the server applies every rule); it
// adds the copy buttons (the token and the signing secret) and checks the
// webhook URL before the form is sent.
(function () {
  "use strict";

  function show(el, text, ok) {
    el.textContent = text;
    el.classList.remove("success", "error");
    el.classList.add(ok ? "success" : "error");
  }

  // A copy button names the field it copies (data-copy), where it answers
  // (data-message) and with what (data-ok, data-fail). The token's value is
  // in data-token: the field shows only a prefix when it is not new.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var message = document.getElementById(button.getAttribute("data-message"));
    if (!field || !message) return;
    button.addEventListener("click", function () {
      var value = field.hasAttribute("data-token") ? field.getAttribute("data-token") : field.value;
      function failed() {
        show(message, button.getAttribute("data-fail"), false);
        // Leave the value selected, ready for Ctrl+C.
        field.focus();
        field.select();
      }
      if (!value || !navigator.clipboard || !navigator.clipboard.writeText) {
        failed();
        return;
      }
      navigator.clipboard.writeText(value).then(function () {
        show(message, button.getAttribute("data-ok"), true);
      }, failed);
    });
  });

  var form = document.getElementById("webhook-form");
  var input = document.getElementById("webhook-url");
  var whMsg = document.getElementById("webhook-message");
  if (form && input && whMsg) {
    var pattern = new RegExp(form.getAttribute("data-pattern"));
    form.addEventListener("submit", function (event) {
      var value = input.value.trim();
      var problem = "";
      if (value === "") {
        problem = form.getAttribute("data-msg-required");
      } else if (value.length > 2048 || !pattern.test(value)) {
        problem = form.getAttribute("data-msg-invalid");
      }
      if (problem) {
        event.preventDefault();
        input.setAttribute("aria-invalid", "true");
        show(whMsg, problem, false);
        input.focus();
        return;
      }
      input.value = value;
      input.removeAttribute("aria-invalid");
    });
  }
})();
