"""The JSON Schema of every command's ``--json`` output, generated from the types it prints.

``COMMAND_OUTPUTS`` is the one registry: each command (its words, as typed) to the type whose
``plain()`` it prints (a library result of ``twofa_cli.api`` or a document of
``twofa_cli.cli.documents``). ``docs/schema/<words joined by ->.json`` holds each one's
schema, and ``error.json`` the ``{"error": {...}}`` every command prints when it fails.

    python -m twofa_cli.cli.schemas --write   # regenerate docs/schema/
    python -m twofa_cli.cli.schemas --check   # exit 1 when a file there is stale (CI)
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from twofa_cli import api
from twofa_cli.cli import documents as doc
from twofa_cli.cli.output import OMITTED_WHEN_NONE

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

COMMAND_OUTPUTS: dict[tuple[str, ...], Any] = {
    ("version",): doc.Version,  # twofa --version --json
    ("init",): doc.HomeShown,
    ("db", "status"): api.SchemaStatus,
    ("db", "upgrade"): api.SchemaStatus,
    ("config", "set"): api.Setting,
    ("config", "get"): api.Setting,
    ("config", "unset"): api.Setting,
    ("config", "show"): doc.ConfigShown,
    ("provider", "add", "configio", "smtp"): api.Provider,
    ("provider", "add", "custom", "twilio"): api.Provider,
    ("provider", "add", "custom", "cdyne"): api.Provider,
    ("provider", "instructions"): api.Instructions,
    ("provider", "list"): list[api.Provider],
    ("provider", "show"): api.Provider,
    ("provider", "update"): api.Provider,
    ("provider", "delete"): api.ProviderRemoved,
    ("provider", "remove"): api.ProviderRemoved,
    ("provider", "test"): api.TestReceipt,
    ("delivery", "list"): list[api.Delivery],
    ("delivery", "stats"): list[api.DeliveryStats],
    ("secondary-auth", "add"): api.Method,
    ("secondary-auth", "update"): api.Method,
    ("secondary-auth", "list"): list[api.Method],
    ("secondary-auth", "show"): api.Method,
    ("secondary-auth", "delete"): api.MethodRemoved,
    ("secondary-auth", "remove"): api.MethodRemoved,
    ("customer", "enable"): doc.PolicyShown,
    ("customer", "disable"): doc.PolicyShown,
    ("customer", "status"): doc.PolicyShown,
    ("admin", "enable"): doc.PolicyShown,
    ("admin", "disable"): doc.PolicyShown,
    ("admin", "status"): doc.PolicyShown,
    ("account", "add"): api.AccountDetails,
    ("account", "set-password"): api.AccountDetails,
    ("account", "import"): api.Imported,
    ("account", "list"): list[api.AccountDetails],
    ("account", "show"): api.AccountDetails,
    ("account", "delete"): api.AccountRemoved,
    ("account", "remove"): api.AccountRemoved,
    ("enroll",): doc.CodeSentDocument | doc.SecretIssuedDocument,
    ("verify",): doc.VerifiedDocument,
    ("resend",): doc.CodeSentDocument,
    ("login",): doc.LoginCodeSent | doc.CodeRequiredDocument | doc.LoginWithoutCode,
    ("logout",): doc.LoggedOut,
    ("session", "list"): list[api.Session],
    ("session", "revoke"): doc.SessionsRevoked,
    ("entry", "list"): list[api.Entry],
    ("entry", "prefer"): api.Entry,
    ("entry", "delete"): api.EntryRemoved,
    ("entry", "remove"): api.EntryRemoved,
    ("recovery-codes", "generate"): doc.RecoveryCodes,
    ("recovery-codes", "status"): doc.RecoveryCodesLeft,
    ("device", "list"): list[api.TrustedDevice],
    ("device", "revoke"): doc.DevicesRevoked,
    ("device", "forget"): doc.CookiesForgotten,
    ("key", "rotate"): api.KeyRotation,
    ("key", "prune"): api.KeyPrune,
    ("outbox",): list[api.OutboxMessage],
    ("audit",): list[api.AuditEvent],
    ("export",): doc.Exported | doc.ExportWritten,
    ("apply",): api.Applied,
    ("serve",): doc.Serving,
}
ERROR = "error"  # the file of the error document, which every command may print


def schema_name(words: tuple[str, ...]) -> str:
    return "-".join(words)


def outputs() -> dict[str, Any]:
    """Every schema file's name (without .json) and the type it describes."""
    return {**{schema_name(words): output for words, output in COMMAND_OUTPUTS.items()},
            ERROR: doc.ErrorDocument}


def _generator() -> type:
    from pydantic.json_schema import GenerateJsonSchema

    class Strict(GenerateJsonSchema):
        """Objects as ``plain()`` prints them: every field a required key (a default does not
        make one optional), keys ``omitted_when_none`` optional and never null, fields kept
        out of the repr left out, no key beyond those."""

        def field_title_should_be_set(self, schema) -> bool:
            return False  # "Challenge Id" says nothing the key does not

        def dataclass_schema(self, schema):
            json_schema = super().dataclass_schema(schema)
            properties = json_schema["properties"]
            required = []
            for field in dataclasses.fields(schema["cls"]):
                if not field.repr:
                    properties.pop(field.name)
                elif field.metadata.get(OMITTED_WHEN_NONE):
                    variants = properties[field.name].pop("anyOf")
                    properties[field.name].pop("default", None)
                    properties[field.name].update(
                        *(v for v in variants if v != {"type": "null"}))
                else:
                    required.append(field.name)
            json_schema["required"] = required
            return json_schema

    return Strict


def _closed(node: Any) -> None:
    """``additionalProperties: false`` on every object with named keys that says nothing of
    others (an exported provider's options are the one open object)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)


def schema_of(name: str, output: Any) -> dict[str, Any]:
    head = {"$schema": DRAFT, "$id": f"{name}.json"}
    from pydantic import TypeAdapter

    body = TypeAdapter(output).json_schema(mode="serialization", schema_generator=_generator())
    _closed(body)
    command = "the error document" if name == ERROR else (
        "twofa --version --json" if name == "version" else
        f"twofa {' '.join(_words(name))} --json")
    body.pop("title", None)
    body.pop("description", None)  # the class's docstring: kept in $defs, not at the top
    return {**head, "title": name, "description": f"The output of {command}.", **body}


def _words(name: str) -> tuple[str, ...]:
    return next(words for words in COMMAND_OUTPUTS if schema_name(words) == name)


def rendered() -> dict[str, str]:
    """Each schema file's name and text, as ``--write`` writes them."""
    return {f"{name}.json": json.dumps(schema_of(name, output), indent=2, ensure_ascii=False)
            + "\n" for name, output in outputs().items()}


def stale(folder: Path = SCHEMA_DIR) -> list[str]:
    """The files of ``folder`` that differ from a fresh run, are missing, or are left over."""
    fresh = rendered()
    present = {path.name for path in folder.glob("*.json")} if folder.is_dir() else set()
    problems = [f"{name}: left over (no command prints it)" for name in sorted(present - set(fresh))]
    for name, text in fresh.items():
        if name not in present:
            problems.append(f"{name}: missing")
        elif (folder / name).read_text(encoding="utf-8") != text:
            problems.append(f"{name}: stale")
    return problems


def write(folder: Path = SCHEMA_DIR) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fresh = rendered()
    for path in folder.glob("*.json"):
        if path.name not in fresh:
            path.unlink()
    for name, text in fresh.items():
        (folder / name).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        write()
        return 0
    if argv == ["--check"]:
        problems = stale()
        for problem in problems:
            print(f"docs/schema/{problem}", file=sys.stderr)
        if problems:
            print("regenerate with: python -m twofa_cli.cli.schemas --write", file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m twofa_cli.cli.schemas --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
