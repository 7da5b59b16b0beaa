// The passkey ceremonies of every page, for forms marked data-passkey="create" (Add
// passkey) or "get" (Use passkey, Sign in with a passkey). On submit: POST the form (its
// CSRF token, the passkey name) to data-options for the options, let the browser ask the
// key, put the browser's response into the form's "response" field and post the form.
// The server checks everything; this script only carries the ceremony.
"use strict";

const REFUSALS = {
  NotAllowedError: "The passkey request was cancelled or timed out. Try again.",
  InvalidStateError: "This passkey is registered already.",
  SecurityError: "This page's address cannot use passkeys: open the shop at its own address.",
  AbortError: "The passkey request was cancelled.",
};

function say(form, message) {
  const box = form.querySelector("[data-passkey-error]");
  box.textContent = message;
  box.hidden = false;
}

async function fetchOptions(form) {
  const fields = new URLSearchParams(new FormData(form));
  fields.delete("response");
  const answer = await fetch(form.dataset.options, {
    method: "POST", body: fields, credentials: "same-origin",
  });
  const body = await answer.json().catch(() => ({ error: "The shop did not answer. Try again." }));
  if (!answer.ok) throw new Error(body.error || "The passkey could not be started.");
  return body;
}

async function ceremony(form) {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
    say(form, "This browser does not support passkeys.");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const options = await fetchOptions(form);
    const credential = form.dataset.passkey === "create"
      ? await navigator.credentials.create(
          { publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
      : await navigator.credentials.get(
          { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    if (!credential) throw new Error("No passkey was chosen.");
    form.elements.response.value = JSON.stringify(credential.toJSON());
    form.submit();  // a plain post: the server answers with the next page
  } catch (error) {
    say(form, REFUSALS[error.name] || error.message || "The passkey did not work. Try again.");
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-passkey]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ceremony(form);
    });
  }
});
