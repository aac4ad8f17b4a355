// The page works without this script (the server applies every rule); it
// adds copying the token and checks the webhook URL before the form is sent.
(function () {
  "use strict";

  function show(el, text, ok) {
    el.textContent = text;
    el.classList.remove("success", "error");
    el.classList.add(ok ? "success" : "error");
  }

  var copy = document.getElementById("copy-token");
  var token = document.getElementById("api-token");
  var tokenMsg = document.getElementById("token-message");
  if (copy && token && tokenMsg) {
    copy.addEventListener("click", function () {
      var value = token.getAttribute("data-token");
      function failed() {
        show(tokenMsg, "Falha ao copiar o token.", false);
        // Leave the token selected, ready for Ctrl+C.
        token.focus();
        token.select();
      }
      if (!value || !navigator.clipboard || !navigator.clipboard.writeText) {
        failed();
        return;
      }
      navigator.clipboard.writeText(value).then(function () {
        show(tokenMsg, "Token copiado para a área de transferência!", true);
      }, failed);
    });
  }

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
