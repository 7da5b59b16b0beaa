// "Service Provider" decides what to ask for: a phone for SMS methods, nothing for an
// authenticator app, an email otherwise.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("method");
  const input = document.getElementById("destination");
  if (!select) return;
  const label = document.querySelector('label[for="destination"]');
  const follow = () => {
    if (!input) return;
    const medium = select.selectedOptions[0].dataset.medium;
    const sms = medium === "sms";
    // An authenticator app needs no destination: nothing is sent to it.
    label.hidden = input.hidden = input.disabled = medium === "app";
    label.textContent = sms ? "Mobile phone number" : "Email address";
    input.name = sms ? "phone" : "email";
    input.type = sms ? "tel" : "email";
    input.autocomplete = sms ? "tel" : "email";
  };
  // Passkeys ask for no destination but a name: their form is another page's.
  const passkeyShown = select.closest("form").dataset.passkey === "create";
  select.addEventListener("change", () => {
    const passkey = select.selectedOptions[0].dataset.medium === "passkey";
    if (passkey || passkeyShown) {
      window.location.search = "?method=" + encodeURIComponent(select.value);
      return;
    }
    follow();
  });
});
