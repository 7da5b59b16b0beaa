"""One shape per resource (CONTRACT.md): list, show, add and update of a resource print the
same keys in the same order, as JSON and as the TSV header, and those keys are the fields of
the library's result type."""

from __future__ import annotations

import dataclasses
import json

from twofa_cli.api import (
    AccountDetails, AuditEvent, Delivery, Entry, Method, OutboxMessage, Provider, SchemaStatus,
    Session, TrustedDevice,
)

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"


def fields(shape: type) -> list[str]:
    return [f.name for f in dataclasses.fields(shape) if f.repr]


def keys(cli, *command: str, stdin: str | None = None) -> list[str]:
    """The keys of a command's first object in JSON, checked equal to its piped TSV header."""
    as_json = cli(*command, "--json", input=stdin)
    assert as_json.exit_code == 0, (command, as_json.stdout, as_json.stderr)
    document = json.loads(as_json.stdout)
    first = document[0] if isinstance(document, list) else document
    return list(first)


def header(cli, *command: str, stdin: str | None = None) -> list[str]:
    piped = cli(*command, input=stdin)
    assert piped.exit_code == 0, (command, piped.stdout, piped.stderr)
    return piped.stdout.splitlines()[0].split("\t")


def same_shape(cli, shape: type, *commands: tuple[str, ...], stdin: str | None = None) -> None:
    expected = fields(shape)
    for command in commands:
        assert keys(cli, *command, stdin=stdin) == expected, command
        if "update" not in command:  # an update is not run twice: reads show its header
            assert header(cli, *command) == expected, command


def code_of(cli) -> str:
    return json.loads(cli("outbox", "--json").stdout)[0]["code"]


def test_every_resource_prints_one_shape(cli):
    cli("customer", "enable")
    assert keys(cli, "provider", "add", "configio", "smtp", "--title", "Email") == fields(Provider)
    same_shape(cli, Provider, ("provider", "list"), ("provider", "show", "Email"),
               ("provider", "update", "Email", "--title", "Mail relay"))
    assert header(cli, "provider", "show", "Mail relay") == header(cli, "provider", "list")

    assert keys(cli, "secondary-auth", "add", "--provider", "Mail relay",
                "--title", "Email code") == fields(Method)
    cli("provider", "add", "configio", "smtp", "--title", "Backup")
    same_shape(cli, Method, ("secondary-auth", "list"), ("secondary-auth", "show", "Email code"),
               ("secondary-auth", "update", "Email code", "--fallback", "Backup"))

    assert keys(cli, "account", "add", ALICE, "--password-stdin",
                stdin=f"{PASSWORD}\n") == fields(AccountDetails)
    same_shape(cli, AccountDetails, ("account", "list"), ("account", "show", ALICE))
    assert keys(cli, "account", "set-password", ALICE, "--password-stdin",
                stdin=f"{PASSWORD}\n") == fields(AccountDetails)

    cli("enroll", ALICE, "--method", "Email code", "--email", ALICE)
    cli("verify", ALICE, code_of(cli), "--trust-device")
    same_shape(cli, Entry, ("entry", "list", ALICE), ("entry", "prefer", ALICE, "Email code"))
    same_shape(cli, TrustedDevice, ("device", "list", ALICE))
    cli("login", ALICE, "--password-stdin", "--device", "phone", input=f"{PASSWORD}\n")
    same_shape(cli, Session, ("session", "list", ALICE))
    same_shape(cli, OutboxMessage, ("outbox",))
    same_shape(cli, AuditEvent, ("audit",))
    same_shape(cli, SchemaStatus, ("db", "status"), ("db", "upgrade"))


def test_deliveries_print_one_shape(cli, home):
    cli("provider", "add", "configio", "smtp", "--title", "Email")
    assert cli("provider", "test", "Email", "--to", ALICE).exit_code == 0
    same_shape(cli, Delivery, ("delivery", "list"))


def test_every_timestamp_key_ends_in_at():
    """`created_at`, not `at`; `lock_ends_at`, not `locked_until`."""
    from datetime import datetime
    from typing import get_type_hints

    import twofa_cli.api as api

    for name in api.__all__:
        shape = getattr(api, name)
        if not (isinstance(shape, type) and dataclasses.is_dataclass(shape)):
            continue
        for field, hint in get_type_hints(shape).items():
            if datetime in (hint, *getattr(hint, "__args__", ())):
                assert field.endswith("_at"), f"{name}.{field}"


def test_channel_means_the_providers_channel_everywhere(cli):
    cli("provider", "add", "configio", "smtp", "--title", "Email")
    receipt = json.loads(cli("provider", "test", "Email", "--to", ALICE, "--json").stdout)
    message = json.loads(cli("outbox", "--json").stdout)[0]
    provider = json.loads(cli("provider", "show", "Email", "--json").stdout)
    assert receipt["channel"] == message["channel"] == provider["channel"] == "smtp"
    assert (receipt["mode"], message["medium"], provider["medium"]) == ("simulate", "email", "email")


def test_account_list_and_show_tell_the_same_state(cli):
    """The list reads every account's 2FA state in one statement; it must agree with show."""
    cli("customer", "enable")
    cli("provider", "add", "configio", "smtp", "--title", "Email")
    cli("secondary-auth", "add", "--provider", "Email", "--title", "Email code")
    for email in (ALICE, "bob@example.com"):
        cli("account", "add", email, "--password-stdin", input=f"{PASSWORD}\n")
    cli("enroll", ALICE, "--method", "Email code", "--email", ALICE)
    cli("verify", ALICE, code_of(cli), "--trust-device")
    cli("login", "bob@example.com", "--password-stdin", input="wrong password\n")
    listed = json.loads(cli("account", "list", "--json").stdout)
    shown = [json.loads(cli("account", "show", row["email"], "--json").stdout) for row in listed]
    assert listed == shown
    assert [(row["entries"], row["trusted_devices"], row["failed_logins"]) for row in listed] == [
        (1, 1, 0), (0, 0, 1)]
