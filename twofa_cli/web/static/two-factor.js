// "Service Provider" decides what to ask for: a phone for SMS methods, an email otherwise.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("method");
  const input = document.getElementById("destination");
  if (!select || !input) return;
  const label = document.querySelector('label[for="destination"]');
  const follow = () => {
    const sms = select.selectedOptions[0].dataset.medium === "sms";
    label.textContent = sms ? "Mobile phone number" : "Email address";
    input.name = sms ? "phone" : "email";
    input.type = sms ? "tel" : "email";
    input.autocomplete = sms ? "tel" : "email";
  };
  select.addEventListener("change", follow);
});
