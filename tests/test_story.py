"""The seed's whole story, through the CLI alone, in simulate mode."""

from __future__ import annotations

import re

import pytest

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def story_cli(cli, home):
    # No clock to move here: let Send New Code follow the first send at once.
    path = home / "config.toml"
    path.write_text(re.sub(r"(?m)^resend_interval_seconds = .*$", "resend_interval_seconds = 0",
                           path.read_text()))
    return cli


def ok(run):
    assert run.exit_code == 0, (run.stdout, run.stderr)
    return run.json


def latest_code(cli) -> str:
    """The newest code in the outbox (the customer's notices carry none)."""
    return next(m["code"] for m in ok(cli("outbox", "--json")) if m["code"] is not None)


def test_the_whole_story(story_cli):
    cli = story_cli
    # the administrator
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))
    provider = ok(cli("provider", "add", "custom", "twilio", "--title", "SMS",
                      "--account-sid", "AC" + "0f" * 16, "--auth-token-stdin",
                      "--from-number", "+14155550100", "--json", input="tok" + "e1" * 15 + "\n"))
    method = ok(cli("secondary-auth", "add", "--provider", str(provider["id"]),
                    "--title", "Text message", "--json"))
    assert method["provider_id"] == provider["id"]
    assert ok(cli("customer", "enable", "--json"))["allowed"] == "Active"
    ok(cli("account", "add", ALICE, "--name", "Alice", "--password-stdin", "--json",
           input=PASSWORD + "\n"))

    # the customer enrols by phone
    sent = ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+1 415 555 0199", "--json"))
    assert sent["status"] == "code_sent" and sent["destination"] == "+1••••••0199"
    message = ok(cli("outbox", "--json"))[0]
    assert message["to"] == "+14155550199"
    assert message["body"] == (f"Your Acme Events verification code is {message['code']}. "
                               "It expires in 10 minutes.")

    # fails once, gets a new code, verifies
    wrong = f"{(int(message['code']) + 1) % 1_000_000:06d}"
    failed = cli("verify", ALICE, wrong, "--json")
    assert failed.exit_code == 1 and failed.json["error"]["code"] == "rejected"
    ok(cli("resend", ALICE, "--json"))
    new_code = latest_code(cli)
    verified = ok(cli("verify", ALICE, new_code, "--json"))
    assert verified["status"] == "verified" and verified["trusted_device"] is False
    [entry] = ok(cli("entry", "list", ALICE, "--json"))
    assert entry == {**entry, "id": verified["entry_id"], "method": "Text message",
                     "destination": "+1••••••0199", "verified": True}

    # logs in and is challenged; verifies with Trust this device
    login = ok(cli("login", ALICE, "--password-stdin", "--device", "laptop", "--json",
                   input=PASSWORD + "\n"))
    assert login["status"] == "code_sent"
    trusted = ok(cli("verify", ALICE, latest_code(cli), "--trust-device", "--device", "laptop",
                     "--json"))
    assert trusted == {**trusted, "status": "authenticated", "trusted_device": True}

    # logs in again without a code
    again = ok(cli("login", ALICE, "--password-stdin", "--device", "laptop", "--json",
                   input=PASSWORD + "\n"))
    assert again["status"] == "authenticated"

    # from another device: challenged
    other = ok(cli("login", ALICE, "--password-stdin", "--device", "phone", "--json",
                   input=PASSWORD + "\n"))
    assert other["status"] == "code_sent"

    # deletes the entry; logs in without a code
    deleted = ok(cli("entry", "delete", ALICE, str(entry["id"]), "--yes", "--json"))
    assert deleted["trusted_devices_revoked"] == 1
    assert ok(cli("entry", "list", ALICE, "--json")) == []
    final = ok(cli("login", ALICE, "--password-stdin", "--device", "phone", "--json",
                   input=PASSWORD + "\n"))
    assert final["status"] == "authenticated"
    actions = [row["action"] for row in ok(cli("audit", "--account", ALICE, "--limit", "100", "--json"))]
    assert {"code.sent", "code.failed", "entry.verified", "device.trust", "entry.delete",
            "device.revoke", "login.authenticated"} <= set(actions)


@pytest.fixture
def customer(story_cli):
    cli = story_cli
    ok(cli("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key-stdin", "--json",
           input="f01d89fd-5155-5455-5585-e84ab8de8591\n"))
    ok(cli("secondary-auth", "add", "--provider", "Cdyne", "--title", "Text message", "--json"))
    ok(cli("customer", "enable", "--json"))
    ok(cli("account", "add", ALICE, "--password-stdin", "--json", input=PASSWORD + "\n"))
    return cli


def test_exit_codes_of_the_customer_commands(customer):
    cli = customer
    assert cli("enroll", "nobody@example.com", "--method", "Text message", "--phone",
               "+14155550199").exit_code == 3
    bad_phone = cli("enroll", ALICE, "--method", "Text message", "--phone", "555-0199", "--json")
    assert bad_phone.exit_code == 2 and bad_phone.json["error"]["code"] == "bad_input"
    assert cli("enroll", ALICE, "--method", "Text message", "--email", ALICE).exit_code == 2
    assert cli("enroll", ALICE, "--method", "Nope", "--phone", "+14155550199").exit_code == 3
    assert cli("verify", ALICE, "123456").exit_code == 1  # nothing pending
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199", "--json"))
    code = latest_code(cli)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [cli("verify", ALICE, wrong).exit_code for _ in range(5)] == [1, 1, 1, 1, 4]
    dead = cli("verify", ALICE, code, "--json")
    assert dead.exit_code == 4 and dead.json["error"]["message"] == "too many attempts: request a new code"
    assert cli("verify", ALICE, "12ab56").exit_code == 2
    bad_login = cli("login", ALICE, "--password-stdin", "--json", input="nope nope\n")
    unknown = cli("login", "ghost@example.com", "--password-stdin", "--json", input="nope nope\n")
    assert bad_login.exit_code == unknown.exit_code == 1
    assert bad_login.json == unknown.json == {"error": {"code": "rejected",
                                                        "message": "wrong email or password"}}


def test_errors_are_one_line_without_traceback(customer):
    run = customer("verify", ALICE, "123456")
    assert run.exit_code == 1
    assert run.stdout == ""
    assert run.stderr.strip().count("\n") == 0 and "Traceback" not in run.stderr


def test_device_commands(customer):
    cli = customer
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199", "--json"))
    ok(cli("verify", ALICE, latest_code(cli), "--trust-device", "--device", "laptop", "--json"))
    [device] = ok(cli("device", "list", ALICE, "--json"))
    assert device["name"] == "laptop" and device["state"] == "active"
    assert ok(cli("login", ALICE, "--password-stdin", "--device", "laptop", "--json",
                  input=PASSWORD + "\n"))["status"] == "authenticated"
    # the browser clears its cookies: challenged again, the server-side trust is untouched
    assert ok(cli("device", "forget", "laptop", "--json")) == {"device": "laptop", "cleared": True}
    assert ok(cli("login", ALICE, "--password-stdin", "--device", "laptop", "--json",
                  input=PASSWORD + "\n"))["status"] == "code_sent"
    assert ok(cli("device", "revoke", ALICE, "laptop", "--json"))["revoked"] == 1
    assert ok(cli("device", "list", ALICE, "--json"))[0]["state"] == "revoked"
    assert cli("device", "revoke", ALICE, "laptop").exit_code == 3
    assert cli("device", "revoke", ALICE).exit_code == 2
    assert ok(cli("device", "revoke", ALICE, "--all", "--json"))["revoked"] == 0
    assert cli("device", "forget", "../../etc/passwd").exit_code == 2


def test_cookie_file_is_owner_only_and_holds_no_server_secret(customer, home):
    cli = customer
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199", "--json"))
    ok(cli("verify", ALICE, latest_code(cli), "--trust-device", "--device", "laptop", "--json"))
    cookie = home / "devices" / "laptop.json"
    assert cookie.stat().st_mode & 0o777 == 0o600
    assert (home / "devices").stat().st_mode & 0o777 == 0o700


def test_entry_delete_asks_for_confirmation_without_yes(customer):
    cli = customer
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199", "--json"))
    entry_id = ok(cli("verify", ALICE, latest_code(cli), "--json"))["entry_id"]
    refused = cli("entry", "delete", ALICE, str(entry_id), "--json")
    assert refused.exit_code == 1 and "--yes" in refused.json["error"]["message"]
    assert len(ok(cli("entry", "list", ALICE, "--json"))) == 1
    assert cli("entry", "delete", ALICE, "999", "--yes").exit_code == 3


def test_outbox_filters_and_limits(customer):
    cli = customer
    ok(cli("account", "add", "bob@example.com", "--password-stdin", "--json", input=PASSWORD + "\n"))
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199", "--json"))
    ok(cli("enroll", "bob@example.com", "--method", "Text message", "--phone", "+14155550177", "--json"))
    rows = ok(cli("outbox", "--json"))
    assert [r["to"] for r in rows] == ["+14155550177", "+14155550199"]  # newest first
    assert set(rows[0]) >= {"id", "to", "channel", "body", "code", "created_at"}
    assert [r["to"] for r in ok(cli("outbox", "--to", "+14155550199", "--json"))] == ["+14155550199"]
    assert len(ok(cli("outbox", "--limit", "1", "--json"))) == 1
    assert cli("outbox", "--limit", "0").exit_code == 2


def test_account_commands(customer, tmp_path):
    cli = customer
    assert cli("account", "add", ALICE, "--password-stdin", input=PASSWORD + "\n").exit_code == 1
    assert cli("account", "add", "not-an-email", "--password-stdin", input=PASSWORD + "\n").exit_code == 2
    assert cli("account", "add", "short@example.com", "--password-stdin", input="short\n").exit_code == 2
    admin = ok(cli("account", "add", "Root@Example.com", "--admin", "--password-stdin", "--json",
                   input=PASSWORD + "\n"))
    assert admin["email"] == "root@example.com" and admin["audience"] == "admin"
    shown = ok(cli("account", "show", "ROOT@example.com", "--json"))
    assert shown["id"] == admin["id"] and shown["entries"] == 0
    assert [a["email"] for a in ok(cli("account", "list", "--json"))] == [ALICE, "root@example.com"]
    assert cli("account", "show", "404").exit_code == 3
