"""The words a customer reads when the library refuses something: one table, here.

The library's messages are written for operators and scripts, and the CLI prints them as
they are ("wrong code (4 tries left)"). A shop's customer gets a sentence that says what
to do next, without option names or internals. An error is looked up by what the page was
doing (``about``) and the error's ``reason``, then by its ``reason`` on any page, then by
its JSON code (its class) the same two ways: an error this table does not name gets its
class's words, never the library's message.
"""

from __future__ import annotations

from typing import Literal

from twofa_cli.api import Throttled, TwofaError

# What the page was doing when the library refused: "" is any page (the error page).
About = Literal["login", "code", "recovery", "resend", "enroll", "passkey", "confirm",
                "delete", "recovery_codes", ""]

# {count}: the error's number (a code's digits); {tries}: "1 try" / "4 tries" left;
# {wait}: "in 30 seconds", "in 5 minutes", or "in a few minutes" when the wait is unknown.
WORDS: dict[tuple[About, str], str] = {
    # the password
    ("login", "wrong_password"): "That email and password do not match. Check them and try again.",
    ("confirm", "wrong_password"): "That password is not right. Try again.",
    ("", "too_many_passwords"): "Too many wrong passwords. Try again {wait}.",
    # a code, or a recovery code instead of one
    ("", "code_format"): "Enter the {count}-digit code.",
    ("", "wrong_code"): "That code is not right. You have {tries} left.",
    ("recovery", "wrong_code"): "That recovery code is not right. You have {tries} left.",
    ("", "last_try_wrong"): "That code is not right, and that was the last try. "
                            "Start again to get a new code.",
    ("recovery", "last_try_wrong"): "That recovery code is not right, and that was the last "
                                    "try. Log in again to try once more.",
    ("", "too_many_attempts"): "Too many wrong tries. Start again to get a new code.",
    ("", "code_expired"): "That code has expired. Ask for a new code.",
    ("", "code_used"): "That code was used already. Wait for the next one.",
    ("", "no_code_pending"): "There is no code waiting to be checked. Start again.",
    ("", "locked"): "Too many wrong codes: for your safety, codes are not checked for a while. "
                    "Try again {wait}.",
    ("", "recovery_code_format"): "A recovery code has 10 letters and digits. "
                                  "Check it and try again.",
    ("", "recovery_code_enrolling"): "A recovery code works only when you log in.",
    # sending a code
    ("", "code_just_sent"): "A code was sent a moment ago. You can ask for another {wait}.",
    ("", "secret_just_issued"): "The app setup shown a moment ago still works: add it to "
                                "your app and enter the code it shows, or start again {wait}.",
    ("", "too_many_codes"): "Too many codes were asked for. Try again {wait}.",
    ("", "too_many_sends"): "This code was sent as often as it can be. "
                            "Start again to get a new one.",
    ("", "sending_capped"): "We cannot send codes right now. Try again {wait}.",
    ("", "app_sends_nothing"): "Nothing is sent for an authenticator app: "
                               "enter the code the app shows.",
    ("", "delivery_failed"): "We could not send your code just now. "
                             "Try again in a few minutes.",
    # choosing a two-factor method
    ("", "two_factor_off"): "Two-factor authentication is not offered at the moment.",
    ("", "already_enrolled"): "You already use this method with that phone number or "
                              "email address.",
    ("", "not_a_phone"): "Enter a mobile phone number with its country code, "
                         "like +1 415 555 0123.",
    ("", "country_not_allowed"): "We cannot send text messages to that country. "
                                 "Use another number or another method.",
    ("", "not_an_email"): "Enter a valid email address, like name@example.com.",
    ("", "address_missing"): "Enter where we should send the code.",
    ("", "app_takes_no_address"): "An authenticator app needs no phone number or "
                                  "email address.",
    ("enroll", "not_found"): "Choose a method from the list.",
    ("", "no_entry"): "Recovery codes come with your first two-factor method. Add one first.",
    ("delete", "not_found"): "That method is not on your account any more.",
    # passkeys
    ("", "passkey_registered"): "This passkey is on your account already.",
    ("", "passwordless_off"): "Signing in with a passkey alone is not offered. "
                              "Log in with your email and password.",
    ("", "no_passkey"): "Your account has no passkey. Use a code instead.",
    ("", "no_passkey_method"): "Passkeys are not offered at the moment.",
    ("", "passkey_refused"): "The passkey was not accepted. Try again.",
    ("", "passkey_name_long"): "A passkey name can be at most 64 characters long.",
    ("passkey", "bad_input"): "That passkey name cannot be used. Try another one.",
    # the session
    ("", "session_ended"): "Your session has ended. Log in again.",
    ("", "password_required"): "Confirm your password to make this change.",
    # by class, when no reason above says more
    ("", "throttled"): "Too many tries. Try again {wait}.",
    ("", "not_found"): "We could not find that. Go back and try again.",
    ("", "database_unavailable"): "The shop cannot reach its records just now. "
                                  "Try again in a few minutes.",
    ("", "conflict"): "That is set up on your account already.",
    ("", "bad_input"): "Check what you entered and try again.",
    ("", "rejected"): "That did not work. Try again.",
}


# The administrator's forms: (the field the error is about, "" for the whole form; the
# error's reason or class). The library names the field ("account_sid: …"); the words here
# name it as its label does and say what to enter.
ADMIN_WORDS: dict[tuple[str, str], str] = {
    ("title", "bad_input"): "Enter a title: one line of at most 200 characters.",
    ("title", "conflict"): "Another one already has this title. Choose a different title.",
    ("company_name", "bad_input"): "Enter the company name: one line of at most 200 characters.",
    ("account_sid", "bad_input"): "Enter the Account SID from your Twilio Console: AC followed "
                                  "by 32 characters from 0-9 and a-f.",
    ("auth_token", "bad_input"): "Enter the Auth Token from your Twilio Console: letters and "
                                 "digits only.",
    ("messaging_service_sid", "bad_input"): "Enter the Messaging Service SID from your Twilio "
                                            "Console: MG followed by 32 characters from 0-9 "
                                            "and a-f.",
    ("from_number", "bad_input"): "Enter the From Number in international format, "
                                  "like +1 415 555 0100.",
    ("license_key", "bad_input"): "Enter the License Key from your Cdyne account, like "
                                  "1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f.",
    ("", "one_sender"): "Give either a From Number or a Messaging Service SID, not both.",
    ("provider", "not_found"): "Choose a Service Provider from the list.",
    ("account", "not_found"): "No account has that email address.",
    ("to", "delivery_failed"): "The provider did not take the test message. Check its "
                               "settings above and try again.",
    # by class, when no reason above or on the customer pages says more
    ("", "conflict"): "That is there already. Choose a different title.",
    ("", "not_found"): "That is not there any more: it may have just been deleted. "
                       "Go back and try again.",
}


def customer_text(error: TwofaError, about: About = "") -> str:
    """The words for ``error`` on a page that was doing ``about``."""
    for key in (error.reason, error.code):
        for place in (about, ""):
            if words := WORDS.get((place, key)):
                return _filled(words, error)
    return WORDS[("", "rejected")]


def admin_text(error: TwofaError, field: str = "", about: About = "") -> str:
    """The words for ``error`` on an administrator's form, next to ``field`` ("" for the
    form): the field's words, then the reason's (a wrong code reads as on the customer
    pages), then the class's."""
    for place, key in ((field, error.reason), (field, error.code), ("", error.reason)):
        if key and (words := ADMIN_WORDS.get((place, key))):
            return _filled(words, error)
    worded_for_customers = any(key == error.reason for _, key in WORDS)
    if not worded_for_customers and (words := ADMIN_WORDS.get(("", error.code))):
        return _filled(words, error)
    return customer_text(error, about)


def _filled(words: str, error: TwofaError) -> str:
    return words.format(count=error.count, tries=_tries(error.count), wait=_wait(error))


def _tries(count: int | None) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _wait(error: TwofaError) -> str:
    seconds = error.retry_after if isinstance(error, Throttled) else None
    if not seconds:
        return "in a few minutes"
    if seconds < 90:
        return f"in {seconds} second{'' if seconds == 1 else 's'}"
    minutes = -(-seconds // 60)
    if minutes < 90:
        return f"in {minutes} minutes"
    return f"in {-(-minutes // 60)} hours"
