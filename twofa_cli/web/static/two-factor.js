// "Service Provider" decides what to ask for: a phone for SMS methods, nothing for an
// authenticator app, an email otherwise.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("method");
  const input = document.getElementById("destination");
  if (!select || !input) return;
  const label = document.querySelector('label[for="destination"]');
  const follow = () => {
    const medium = select.selectedOptions[0].dataset.medium;
    const sms = medium === "sms";
    // An authenticator app needs no destination: nothing is sent to it.
    label.hidden = input.hidden = input.disabled = medium === "app";
    label.textContent = sms ? "Mobile phone number" : "Email address";
    input.name = sms ? "phone" : "email";
    input.type = sms ? "tel" : "email";
    input.autocomplete = sms ? "tel" : "email";
  };
  select.addEventListener("change", follow);
});
