// "Service Provider" decides the form under it, which the server renders for the chosen
// method (a phone number, an email address, an authenticator app, a passkey). Without this
// script the customer presses Continue; with it, choosing is enough.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const choice = document.querySelector("form[data-method-choice]");
  if (!choice) return;
  choice.querySelector("[data-continue]").hidden = true;
  choice.elements.method.addEventListener("change", () => choice.submit());
});
