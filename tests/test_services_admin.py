"""The admin side's library, without the CLI: providers, secondary auth, system, set-up, config.

The shop's web app calls these functions with a Runtime, so they are the contract's
second face: errors are the domain exceptions of twofa_cli.errors, and every change
is one transaction with one audit row.
"""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from tests.conftest import TWILIO_SID, TWILIO_TOKEN, last_code
from tests.store_dump import dump_store
from twofa_cli import validate
from twofa_cli.errors import BadInput, Conflict, NotFound, NotInitialised, Rejected
from twofa_cli.runtime import open_runtime
from twofa_cli.services import (
    accounts, challenges, provider_channels, providers, secondary_auth, setup, system,
)
from twofa_cli.services.audit import list_events
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import Challenge, Delivery, Entry, Provider, SecondaryAuth

MG_SID = "MG" + "b2" * 16
CDYNE_KEY = "F01D89FD-5155-5455-5585-E84AB8DE8591"
FROM = "+14155550100"


def twilio(rt, title="SMS", **options):
    return providers.add_provider(rt, channel="twilio", title=title, options={
        "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": FROM, **options})


def provider_row(rt, provider_id) -> Provider:
    with rt.transaction() as session:
        return session.get(Provider, provider_id)


def actions(rt) -> list[str]:
    return [event["action"] for event in reversed(list_events(rt, limit=1000))]


# -- providers: add -------------------------------------------------------------------------


def test_add_twilio_keeps_the_token_only_inside_a_fernet_token(rt, clock):
    added = twilio(rt)
    assert added["options"]["auth_token"] == "…" + TWILIO_TOKEN[-4:]
    row = provider_row(rt, added["id"])
    assert "auth_token" not in row.options
    assert row.options == {"account_sid": TWILIO_SID, "from_number": FROM,
                           "api_base_url": "https://api.twilio.com"}
    assert row.secrets.startswith("gAAAAA")  # a Fernet token
    assert TWILIO_TOKEN not in row.secrets
    assert rt.key.decrypt_json(row.secrets) == {"auth_token": TWILIO_TOKEN}
    assert row.created_at == row.updated_at == clock.now
    assert (row.kind, row.channel, row.title) == ("custom", "twilio", "SMS")


def test_the_channel_gets_the_decrypted_credentials(rt):
    added = twilio(rt)
    channel = provider_channels.open_channel(rt, provider_row(rt, added["id"]))
    assert channel.options.auth_token == TWILIO_TOKEN
    assert channel.options.account_sid == TWILIO_SID


def test_add_cdyne_and_smtp(rt):
    cdyne = providers.add_provider(rt, channel="cdyne", title="Cdyne",
                                   options={"license_key": CDYNE_KEY})
    assert cdyne["kind"] == "custom" and cdyne["options"]["license_key"] == "…8591"
    assert rt.key.decrypt_json(provider_row(rt, cdyne["id"]).secrets) == {"license_key": CDYNE_KEY}
    smtp = providers.add_provider(rt, channel="smtp", title="Email")
    assert smtp["kind"] == "configio" and smtp["medium"] == "email"
    assert provider_row(rt, smtp["id"]).secrets == ""


def test_add_normalises_sender_and_trims_whitespace(rt):
    added = twilio(rt, title="  SMS  ", account_sid=f"  {TWILIO_SID} ", from_number="+44 20 7946 0958")
    assert added["title"] == "SMS"
    assert added["options"]["account_sid"] == TWILIO_SID
    assert added["options"]["from_number"] == "+442079460958"


@pytest.mark.parametrize("channel, options, message", [
    ("fax", {}, "unknown channel"),
    ("smtp", {"from_number": FROM}, "from_number is not an option of smtp"),
    ("twilio", {"account_sid": TWILIO_SID, "from_number": FROM}, "auth_token is required"),
    ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}, "exactly one sender"),
    ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": FROM,
                "messaging_service_sid": MG_SID}, "exactly one sender"),
    ("twilio", {"account_sid": "AC1", "auth_token": TWILIO_TOKEN, "from_number": FROM}, "Account SID"),
    ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
                "messaging_service_sid": "MG1"}, "Messaging Service SID"),
    ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": FROM,
                "api_base_url": "ftp://x"}, "api_base_url"),
    ("cdyne", {"license_key": "nope"}, "License Key"),
    ("cdyne", {"license_key": CDYNE_KEY, "from_number": "+1"}, "phone number"),
])
def test_add_refuses_bad_options_and_stores_nothing(rt, database_url, channel, options, message):
    before = dump_store(database_url)
    with pytest.raises(BadInput, match=message):
        providers.add_provider(rt, channel=channel, title="P", options=options)
    assert dump_store(database_url) == before


def test_error_messages_never_echo_a_credential(rt):
    token = "secret with spaces 4242"
    with pytest.raises(BadInput) as error:
        twilio(rt, auth_token=token)
    assert "4242" not in str(error.value) and "secret" not in str(error.value)
    key = "F01D89FD-5155-5455-5585-E84AB8DE859Z"
    with pytest.raises(BadInput) as error:
        providers.add_provider(rt, channel="cdyne", title="C", options={"license_key": key})
    assert "859Z" not in str(error.value)


def test_duplicate_title_is_a_conflict(rt):
    twilio(rt)
    with pytest.raises(Conflict, match="already exists"):
        providers.add_provider(rt, channel="smtp", title="SMS")
    assert len(providers.list_providers(rt)) == 1


def at_once(home, clock, work, *, admins: int = 8) -> list[object]:
    """Run ``work(runtime)`` for several admins at the same moment, each with its own
    engine, as separate processes would; returns each result or the exception raised."""
    runtimes = [open_runtime(home, actor=f"admin-{n}", clock=clock) for n in range(admins)]
    barrier = threading.Barrier(admins)
    outcomes: list[object] = []

    def run(runtime):
        barrier.wait()
        try:
            outcomes.append(work(runtime))
        except Exception as exc:  # collected and asserted on below
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(runtime,)) for runtime in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runtime in runtimes:
        runtime.engine.dispose()
    return outcomes


def kinds(outcomes) -> list[str]:
    return sorted(type(outcome).__name__ for outcome in outcomes)


def test_concurrent_adds_of_one_title_make_one_provider(rt, home, clock):
    """The title check and the insert race; the unique index decides, as a Conflict."""
    outcomes = at_once(home, clock, lambda r: providers.add_provider(r, channel="smtp", title="Email"))
    assert kinds(outcomes) == ["Conflict"] * 7 + ["dict"], outcomes
    assert [p["title"] for p in providers.list_providers(rt)] == ["Email"]
    assert actions(rt) == ["provider.add"]


def test_concurrent_adds_of_one_method_title_make_one_method(rt, home, clock):
    providers.add_provider(rt, channel="smtp", title="Email")
    outcomes = at_once(home, clock, lambda r: secondary_auth.add_secondary_auth(
        r, provider="Email", title="Email code"))
    assert kinds(outcomes) == ["Conflict"] * 7 + ["dict"], outcomes
    assert [m["title"] for m in secondary_auth.list_secondary_auth(rt)] == ["Email code"]


def test_concurrent_first_settings_all_succeed(rt, home, clock):
    """Two admins enabling 2FA (or naming the company) on a fresh store at once."""
    outcomes = at_once(home, clock, lambda r: system.set_allowed(r, "customer", True))
    assert kinds(outcomes) == ["dict"] * 8, outcomes
    outcomes = at_once(home, clock, lambda r: system.set_company_name(r, f"Acme {r.actor}"))
    assert kinds(outcomes) == ["str"] * 8, outcomes
    assert system.get_company_name(rt) in {f"Acme admin-{n}" for n in range(8)}
    assert system.policy_status(rt, "customer")["active"] is True
    # Enabling what is already enabled changes nothing and records nothing.
    assert actions(rt) == ["customer.enable"] + ["config.company_name"] * 8


def test_a_failure_after_the_insert_leaves_no_provider(rt, database_url, monkeypatch):
    """SECURITY rule 18: the provider and its audit row are one transaction."""
    before = dump_store(database_url)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(providers.audit, "record", broken)
    with pytest.raises(RuntimeError):
        twilio(rt)
    assert dump_store(database_url) == before


# -- providers: list, show, update ----------------------------------------------------------


def test_list_and_show(rt):
    email = providers.add_provider(rt, channel="smtp", title="Email")
    sms = twilio(rt)
    secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    assert [p["id"] for p in providers.list_providers(rt)] == [email["id"], sms["id"]]
    shown = providers.show_provider(rt, "SMS")
    assert shown["secondary_auth"] == ["Text message"]
    assert providers.show_provider(rt, str(sms["id"]))["title"] == "SMS"
    with pytest.raises(NotFound):
        providers.show_provider(rt, "Fax")


def test_update_rotates_the_token_and_keeps_the_rest(rt, clock):
    added = twilio(rt)
    old_secret = provider_row(rt, added["id"]).secrets
    clock.advance(minutes=5)
    new_token = "rotated" + "3e" * 12
    updated = providers.update_provider(rt, "SMS", options={"auth_token": new_token})
    assert updated["options"]["auth_token"] == "…3e3e"
    row = provider_row(rt, added["id"])
    assert row.secrets != old_secret
    assert rt.key.decrypt_json(row.secrets) == {"auth_token": new_token}
    assert row.options["from_number"] == FROM and row.options["account_sid"] == TWILIO_SID
    assert row.updated_at == clock.now and row.created_at < clock.now
    [event] = [e for e in list_events(rt) if e["action"] == "provider.update"]
    assert event["detail"] == "auth_token" and new_token not in str(event)


def test_update_switches_the_sender(rt):
    twilio(rt)
    switched = providers.update_provider(rt, "SMS", options={"messaging_service_sid": MG_SID})
    assert switched["options"]["messaging_service_sid"] == MG_SID
    assert "from_number" not in switched["options"]
    back = providers.update_provider(rt, "SMS", options={"from_number": "+14155550111"})
    assert back["options"]["from_number"] == "+14155550111"
    assert "messaging_service_sid" not in back["options"]
    with pytest.raises(BadInput, match="exactly one sender"):
        providers.update_provider(rt, "SMS", options={"from_number": FROM,
                                                      "messaging_service_sid": MG_SID})
    assert provider_row(rt, back["id"]).options["from_number"] == "+14155550111"


def test_update_title(rt):
    added = twilio(rt)
    assert providers.update_provider(rt, str(added["id"]), title=" Twilio ")["title"] == "Twilio"
    assert providers.update_provider(rt, "Twilio", title="Twilio")["title"] == "Twilio"
    assert actions(rt) == ["provider.add", "provider.update", "provider.update"]


def test_update_to_a_taken_title_is_a_conflict_and_changes_nothing(rt, database_url):
    providers.add_provider(rt, channel="smtp", title="Email")
    twilio(rt)
    before = dump_store(database_url)
    with pytest.raises(Conflict, match="already exists"):
        providers.update_provider(rt, "Email", title="SMS")
    with pytest.raises(Conflict):
        providers.update_provider(rt, "Email", title="SMS", options={})
    assert dump_store(database_url) == before


@pytest.mark.parametrize("kwargs, error", [
    ({}, BadInput),
    ({"options": {"auth_token": None}}, BadInput),
    ({"title": ""}, BadInput),
    ({"title": "x" * 201}, BadInput),
    ({"options": {"license_key": CDYNE_KEY}}, BadInput),
    ({"options": {"account_sid": "AC"}}, BadInput),
    ({"options": {"auth_token": "has space"}}, BadInput),
])
def test_update_refuses_bad_input_and_changes_nothing(rt, database_url, kwargs, error):
    twilio(rt)
    before = dump_store(database_url)
    with pytest.raises(error):
        providers.update_provider(rt, "SMS", **kwargs)
    assert dump_store(database_url) == before


def test_update_unknown_provider(rt):
    with pytest.raises(NotFound):
        providers.update_provider(rt, "999", title="X")


# -- providers: remove ----------------------------------------------------------------------


def test_remove_a_provider_nobody_uses(rt):
    added = providers.add_provider(rt, channel="smtp", title="Email")
    assert providers.removal_plan(rt, "Email")["secondary_auth"] == []
    result = providers.remove_provider(rt, "Email")
    assert result == {"removed": added,
                      "secondary_auth_removed": []}
    assert providers.list_providers(rt) == []
    assert actions(rt) == ["provider.add", "provider.remove"]


def test_remove_a_provider_in_use_needs_cascade(rt, database_url):
    twilio(rt)
    method = secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    plan = providers.removal_plan(rt, "SMS")
    assert plan["secondary_auth"] == [{"id": method["id"], "title": "Text message"}]
    before = dump_store(database_url)
    with pytest.raises(Conflict, match="Text message"):
        providers.remove_provider(rt, "SMS")
    assert dump_store(database_url) == before


def test_cascade_removes_methods_entries_and_pending_codes_and_keeps_deliveries(rt, sms_setup):
    """Removing a provider with customers enrolled: on both stores, in one transaction."""
    enroll(rt, "alice@example.com", method="Text message", phone="+14155550199")
    challenges.verify(rt, "alice@example.com", last_code(rt))
    accounts.add_account(rt, email="bob@example.com", password="another secret")
    enroll(rt, "bob@example.com", method="Text message", phone="+14155550188")  # still pending

    result = providers.remove_provider(rt, "SMS", cascade=True)
    assert result["removed"]["title"] == "SMS"
    assert result["secondary_auth_removed"] == [
        {"id": sms_setup["method"]["id"], "title": "Text message", "entries_removed": 1}]
    with rt.transaction() as session:
        assert session.exec(select(Entry)).all() == []
        assert session.exec(select(Challenge)).all() == []
        assert session.exec(select(SecondaryAuth)).all() == []
        deliveries = session.exec(select(Delivery)).all()
    # the per-destination send caps still count what was sent
    assert len(deliveries) == 2 and {d.provider_id for d in deliveries} == {None}
    assert actions(rt)[-3:] == ["entry.delete", "secondary_auth.remove", "provider.remove"]


def test_remove_unknown_provider(rt):
    with pytest.raises(NotFound):
        providers.remove_provider(rt, "Nope", cascade=True)
    with pytest.raises(NotFound):
        providers.removal_plan(rt, "Nope")


# -- providers: instructions ------------------------------------------------------------------


@pytest.mark.parametrize("channel, kind, needles", [
    ("twilio", "custom", ["console.twilio.com", "Account SID", "Auth Token", "MG", "E.164",
                          "twofa provider add custom twilio"]),
    ("cdyne", "custom", ["License Key", "twofa provider add custom cdyne"]),
    ("smtp", "configio", ["[smtp]", "TWOFA_SMTP_PASSWORD", "twofa provider add configio smtp"]),
])
def test_instructions(channel, kind, needles):
    data = providers.instructions(channel)
    assert data["channel"] == channel and data["kind"] == kind
    for needle in needles:
        assert needle in data["instructions"]


def test_instructions_for_an_unknown_channel():
    with pytest.raises(BadInput, match="twilio"):
        providers.instructions("fax")


# -- secondary auth -----------------------------------------------------------------------------


def test_secondary_auth_add_and_list(rt, clock):
    email = providers.add_provider(rt, channel="smtp", title="Email")
    sms = twilio(rt)
    text = secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    mail = secondary_auth.add_secondary_auth(rt, provider=str(email["id"]), title="Email code")
    assert text == {"id": text["id"], "kind": "code", "provider_id": sms["id"], "title": "Text message",
                    "provider": "SMS", "channel": "twilio", "created_at": clock.now.isoformat(),
                    "fallbacks": [], "entries": 0}
    listed = secondary_auth.list_secondary_auth(rt)
    assert [(m["id"], m["provider_id"], m["channel"]) for m in listed] == [
        (text["id"], sms["id"], "twilio"), (mail["id"], email["id"], "smtp")]


def test_secondary_auth_refusals_change_nothing(rt, database_url):
    twilio(rt)
    secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    before = dump_store(database_url)
    with pytest.raises(NotFound):
        secondary_auth.add_secondary_auth(rt, provider="Fax", title="Fax code")
    with pytest.raises(Conflict):
        secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    with pytest.raises(BadInput):
        secondary_auth.add_secondary_auth(rt, provider="SMS", title="\x1b[2J")
    with pytest.raises(NotFound):
        secondary_auth.remove_secondary_auth(rt, "Fax code")
    with pytest.raises(NotFound):
        secondary_auth.entries_using(rt, "Fax code")
    assert dump_store(database_url) == before


def test_secondary_auth_remove_takes_entries_and_pending_codes(rt, sms_setup):
    enroll(rt, "alice@example.com", method="Text message", phone="+14155550199")
    challenges.verify(rt, "alice@example.com", last_code(rt))
    assert secondary_auth.entries_using(rt, "Text message") == 1
    accounts.add_account(rt, email="bob@example.com", password="another secret")
    enroll(rt, "bob@example.com", method="Text message", phone="+14155550188")

    result = secondary_auth.remove_secondary_auth(rt, "Text message")
    assert result == {"id": sms_setup["method"]["id"], "title": "Text message", "entries_removed": 1}
    with rt.transaction() as session:
        assert session.exec(select(Entry)).all() == []
        assert session.exec(select(Challenge)).all() == []
    assert [p["title"] for p in providers.list_providers(rt)] == ["SMS"]  # the provider stays
    assert system.policy_status(rt, "customer")["secondary_auth_providers"] == 0


# -- system: company name and the Allowed toggles -----------------------------------------------


def test_company_name(rt):
    assert system.get_company_name(rt) == ""
    assert system.set_company_name(rt, "  Acme Events ") == "Acme Events"
    assert system.get_company_name(rt) == "Acme Events"
    system.set_company_name(rt, "Acme ☃")
    assert system.get_company_name(rt) == "Acme ☃"
    [event, _] = list_events(rt)
    assert (event["action"], event["target"], event["actor"]) == ("config.company_name", "Acme ☃",
                                                                   "tester")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\x00b", "a\nb", "a\udcffb", "a\u202eb"])
def test_company_name_refuses_bad_input(rt, database_url, name):
    system.set_company_name(rt, "Acme")
    before = dump_store(database_url)
    with pytest.raises(BadInput):
        system.set_company_name(rt, name)
    assert dump_store(database_url) == before


def test_allowed_toggles_per_audience(rt, clock):
    assert system.policy_status(rt, "customer") == {
        "audience": "customer", "allowed": "Inactive", "active": False, "secondary_auth_providers": 0}
    assert system.set_allowed(rt, "customer", True)["active"] is True
    assert system.policy_status(rt, "admin")["active"] is False
    twilio(rt)
    secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    assert system.set_allowed(rt, "admin", True) == {
        "audience": "admin", "allowed": "Active", "active": True, "secondary_auth_providers": 1}
    assert system.set_allowed(rt, "customer", False)["allowed"] == "Inactive"
    with rt.transaction() as session:
        assert system.is_allowed(session, "admin") and not system.is_allowed(session, "customer")
    events = [e for e in list_events(rt) if e["action"].split(".")[0] in {"customer", "admin"}]
    assert [e["action"] for e in reversed(events)] == ["customer.enable", "admin.enable",
                                                        "customer.disable"]
    assert {e["created_at"] for e in events} == {clock.now.isoformat()}


def test_every_admin_change_is_audited_and_no_secret_is(rt):
    system.set_company_name(rt, "Acme")
    providers.add_provider(rt, channel="smtp", title="Email")
    twilio(rt)
    providers.add_provider(rt, channel="cdyne", title="Cdyne", options={"license_key": CDYNE_KEY})
    providers.update_provider(rt, "SMS", title="Twilio", options={"auth_token": "new" + "4f" * 12})
    secondary_auth.add_secondary_auth(rt, provider="Twilio", title="Text message")
    system.set_allowed(rt, "customer", True)
    system.set_allowed(rt, "admin", True)
    secondary_auth.remove_secondary_auth(rt, "Text message")
    providers.remove_provider(rt, "Cdyne")
    events = list_events(rt)
    assert [e["action"] for e in reversed(events)] == [
        "config.company_name", "provider.add", "provider.add", "provider.add", "provider.update",
        "secondary_auth.add", "customer.enable", "admin.enable", "secondary_auth.remove",
        "provider.remove"]
    assert {e["actor"] for e in events} == {"tester"}
    dumped = repr(events)
    for secret in (TWILIO_TOKEN, "new" + "4f" * 12, CDYNE_KEY, CDYNE_KEY.lower()):
        assert secret not in dumped


# -- set-up -----------------------------------------------------------------------------------


def test_initialise_again_creates_nothing(home, database_url):
    before = dump_store(database_url)
    result = setup.initialise(home)
    assert result["created"] == [] and result["upgraded_from"] is None
    assert result["schema_revision"] == setup.schema.HEAD_REVISION
    assert dump_store(database_url) == before


def test_db_status_and_upgrade_on_a_current_schema(home):
    status = setup.db_status(home)
    assert status["up_to_date"] is True and status["schema_revision"] == status["head_revision"]
    upgrade = setup.db_upgrade(home)
    assert upgrade["upgraded_from"] is None
    assert upgrade["schema_revision"] == status["head_revision"]


def test_open_runtime_on_a_folder_that_is_no_home(tmp_path):
    with pytest.raises(NotInitialised, match="twofa init"):
        open_runtime(tmp_path / "nothing")
    with pytest.raises(NotInitialised, match="twofa init"):
        setup.db_status(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_open_runtime_with_a_wrong_key_cannot_read_credentials(home, clock, monkeypatch):
    from twofa_cli.security import SecretKey

    rt = open_runtime(home, clock=clock)
    twilio(rt)
    rt.engine.dispose()
    monkeypatch.setenv("TWOFA_SECRET_KEY", SecretKey.generate())
    other = open_runtime(home, clock=clock)
    try:
        with pytest.raises(Rejected, match="cannot be decrypted"):
            providers.list_providers(other)
    finally:
        other.engine.dispose()


# -- config layering ----------------------------------------------------------------------------


def test_database_url_layers_option_over_environment_over_file(tmp_path, monkeypatch):
    from twofa_cli.config import load_settings

    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text('[database]\nurl = "sqlite:///from-file.db"\n')
    assert load_settings(home).database_url == "sqlite:///from-file.db"
    monkeypatch.setenv("TWOFA_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings(home).database_url == "sqlite:///from-env.db"
    assert load_settings(home, database_url="sqlite:///from-option.db").database_url == \
        "sqlite:///from-option.db"
    monkeypatch.delenv("TWOFA_DATABASE_URL")
    (home / "config.toml").write_text("")
    assert load_settings(home).database_url == f"sqlite:///{home / 'twofa.db'}"


def test_home_layers_option_over_environment(tmp_path, monkeypatch):
    from twofa_cli.config import resolve_home

    monkeypatch.setenv("TWOFA_HOME", str(tmp_path / "env"))
    assert resolve_home() == tmp_path / "env"
    assert resolve_home(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv("TWOFA_HOME")
    assert resolve_home().name == "twofa"  # the platform's user data dir


@pytest.mark.parametrize("content, message", [
    ("[codes\nlength = 6", "not valid TOML"),
    ("[codes]\nlength = 4\n", "codes.length"),
    ("[codes]\ncolour = 1\n", "codes.colour"),
    ("[delivery]\nmode = \"carrier pigeon\"\n", "delivery.mode"),
    ("[sms]\nallowed_countries = \"US\"\n", "sms.allowed_countries"),
])
def test_a_bad_config_file_is_bad_input(tmp_path, content, message):
    from twofa_cli.config import load_settings

    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(BadInput, match=message):
        load_settings(tmp_path)


def test_public_settings_mask_the_database_password(tmp_path):
    from twofa_cli.config import load_settings

    settings = load_settings(tmp_path, database_url="postgresql+psycopg://shop:hunter2@db:5432/twofa")
    public = settings.public()
    assert "hunter2" not in repr(public)
    assert public["database"]["url"] == "postgresql+psycopg://shop:***@db:5432/twofa"


def test_the_shipped_example_config_is_the_defaults(tmp_path):
    from twofa_cli.config import Settings, example_config_text, load_settings

    (tmp_path / "config.toml").write_text(example_config_text())
    assert load_settings(tmp_path) == Settings(home=tmp_path)


# -- validate.text: the one rule for every label -------------------------------------------------


@pytest.mark.parametrize("value", [
    "SMS", "Téléphone", "短信", "רשימת SMS", "رسالة", "📱", "👩\u200d👩\u200d👧", "e\u0301",
    "a\u200fb", "'; DROP TABLE provider; --", "x" * 200,
])
def test_text_accepts_and_keeps_unicode(value):
    assert validate.text(value) == value


@pytest.mark.parametrize("value, message", [
    ("", "empty"), (" \t ", "empty"), (None, "empty"),
    ("x" * 201, "201 characters"), ("x" * 10_000, "10000 characters"),
    ("a\x00b", "control"), ("a\x1bb", "control"), ("a\rb", "control"), ("a\x7fb", "control"),
    ("a\x85b", "control"), ("a\x9bb", "control"), ("a\u2028b", "control"), ("a\u2029b", "control"),
    ("a\u202ab", "control"), ("a\u202eb", "control"), ("a\u2066b", "control"),
    ("a\u2069b", "control"), ("a\udcffb", "UTF-8"), ("\ud83d", "UTF-8"),
])
def test_text_refuses(value, message):
    with pytest.raises(BadInput, match=message):
        validate.text(value)


def test_text_names_what_it_checks():
    with pytest.raises(BadInput, match="^company name must not be empty$"):
        validate.text("", "company name")
