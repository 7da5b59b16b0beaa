"""Schema migrations: every revision keeps every row, on SQLite and PostgreSQL.

The old schemas here are made by the shipped scripts themselves (upgrade to
"0001", fill, upgrade to "0002", fill), then brought to head by the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import CheckConstraint, column, inspect, insert, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from twofa_cli.config import load_settings
from twofa_cli.security import load_secret_key
from twofa_cli.store import schema
from twofa_cli.store.engine import make_engine
from twofa_cli.store.models import (
    Account, AuditEvent, Challenge, Delivery, Entry, OutboxMessage, Provider, SecondaryAuth,
    Setting, TrustedDevice,
)

T0 = datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)
ADMIN_TABLES = [Setting, Provider, SecondaryAuth, AuditEvent]
CUSTOMER_TABLES = [Account, Entry, Challenge, Delivery, OutboxMessage, TrustedDevice]
# Columns that revisions after 0002 add: the old rows compared here have none of them.
ADDED_LATER = {"account": {"lockouts", "password_epoch"}, "delivery": {"budget", "status", "error_code", "updated_at", "country"},
               "entry": {"secret", "last_step", "preferred"}, "challenge": {"secret"},
               "secondary_auth": {"kind"}}


def old_table(model):
    """``model``'s table as revision 0002 made it (the columns added later left out)."""
    new = model.__table__
    return table(new.name, *[column(c.name, c.type) for c in new.columns
                             if c.name not in ADDED_LATER.get(new.name, ())])


def fill_admin_side(engine) -> None:
    """Rows a deployment at revision 0001 would hold."""
    key = load_secret_key(load_settings().key_file)  # the test home's key
    with engine.begin() as connection:
        connection.execute(insert(Setting.__table__), [
            {"key": "company_name", "value": "Acme Events"},
            {"key": "customer_allowed", "value": "1"},
        ])
        connection.execute(insert(Provider.__table__), [
            {"id": 1, "kind": "custom", "channel": "twilio", "title": "SMS",
             "options": {"account_sid": "AC" + "a1" * 16, "from_number": "+14155550100"},
             "secrets": key.encrypt_json({"auth_token": "tok" + "9f" * 15}),
             "created_at": T0, "updated_at": T0},
            {"id": 2, "kind": "configio", "channel": "smtp", "title": "Email ünïcode",
             "options": {}, "secrets": "", "created_at": T0, "updated_at": T0},
        ])
        connection.execute(insert(old_table(SecondaryAuth)), [
            {"id": 1, "provider_id": 1, "title": "Text message", "created_at": T0},
            {"id": 2, "provider_id": 2, "title": "Email", "created_at": T0},
        ])
        connection.execute(insert(AuditEvent.__table__), [
            {"id": 1, "at": T0, "actor": "ops", "action": "provider.add", "account_id": None,
             "target": "1:SMS", "outcome": "ok", "detail": "it's \"quoted\"; DROP TABLE x"},
        ])


def fill_customer_side(engine) -> None:
    """Rows a deployment at revision 0002 would hold, including a provider's deliveries."""
    with engine.begin() as connection:
        connection.execute(insert(old_table(Account)), [
            {"id": 1, "email": "alice@example.com", "name": "Alice", "password_hash": "$argon2id$x",
             "is_admin": False, "failed_verifications": 3, "locked_until": None, "created_at": T0},
            {"id": 2, "email": "root@example.com", "name": "", "password_hash": "$argon2id$y",
             "is_admin": True, "failed_verifications": 10, "locked_until": T0, "created_at": T0},
        ])
        connection.execute(insert(old_table(Entry)), [
            {"id": 1, "account_id": 1, "secondary_auth_id": 1, "destination": "+14155550123",
             "created_at": T0},
        ])
        connection.execute(insert(old_table(Challenge)), [
            {"id": 1, "account_id": 1, "purpose": "enroll", "secondary_auth_id": 1,
             "destination": "+14155550123", "entry_id": None, "code_hmac": "ab" * 32,
             "status": "used", "attempts": 1, "sends": 2, "last_sent_at": T0, "expires_at": T0,
             "created_at": T0},
            {"id": 2, "account_id": 1, "purpose": "login", "secondary_auth_id": 1,
             "destination": "+14155550123", "entry_id": 1, "code_hmac": "cd" * 32,
             "status": "pending", "attempts": 0, "sends": 1, "last_sent_at": None,
             "expires_at": T0, "created_at": T0},
        ])
        connection.execute(insert(old_table(Delivery)), [
            {"id": i, "provider_id": 1, "destination": "+14155550123",
             "provider_message_id": f"outbox-{i}", "sent_at": T0} for i in (1, 2, 3)
        ])
        connection.execute(insert(OutboxMessage.__table__), [
            {"id": 1, "to": "+14155550123", "channel": "sms", "subject": "",
             "body": "Your code is 123456.", "code": "123456", "created_at": T0},
        ])
        connection.execute(insert(TrustedDevice.__table__), [
            {"id": 1, "account_id": 1, "token_sha256": "ef" * 32, "device_name": "laptop",
             "created_at": T0, "expires_at": T0, "revoked_at": None},
        ])


def snapshot(engine, tables) -> dict[str, list[tuple]]:
    def rows(model):
        old = old_table(model)
        key = [old.c[c.name] for c in model.__table__.primary_key.columns]
        return [tuple(row) for row in connection.execute(select(old).order_by(*key))]

    with engine.connect() as connection:
        return {model.__tablename__: rows(model) for model in tables}


@pytest.fixture
def engine(home):
    """The initialised home's database, taken back to an empty schema."""
    engine = make_engine(load_settings(home).database_url)
    schema.downgrade(engine, "base")
    yield engine
    engine.dispose()


@pytest.fixture
def old_store(engine):
    """A store at revision 0002 that went through 0001 with rows in it; its rows by table."""
    schema.upgrade(engine, "0001")
    fill_admin_side(engine)
    schema.upgrade(engine, "0002")
    fill_customer_side(engine)
    return snapshot(engine, ADMIN_TABLES + CUSTOMER_TABLES)


def schema_differences(engine) -> list:
    """What separates the migrated schema from models.py (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        # Autogenerate ignores CHECK constraints: compare their names by hand.
        checks = {c["name"] for c in inspect(connection).get_check_constraints("challenge")}
    declared = {c.name for c in Challenge.__table__.constraints if isinstance(c, CheckConstraint)}
    if checks != declared:
        differences.append(("check constraints", sorted(checks), sorted(declared)))
    return differences


# -- the scripts ---------------------------------------------------------------------


def test_head_revision_constant_matches_the_scripts():
    assert schema.HEAD_REVISION == schema.head_revision_from_scripts()


def test_revisions_form_one_numbered_line():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(schema._alembic_config(None))
    chain = [s.revision for s in scripts.walk_revisions("base", "heads")]
    # One line, numbered 0001, 0002, …: check_schema orders revisions as strings.
    assert chain == [f"{n:04d}" for n in range(len(chain), 0, -1)]
    assert len(chain) >= 4 and len(scripts.get_heads()) == 1


def test_a_fresh_schema_matches_the_models(home):
    engine = make_engine(load_settings(home).database_url)
    assert schema.current_revision(engine) == schema.HEAD_REVISION
    assert schema_differences(engine) == []
    engine.dispose()


# -- upgrading keeps every row --------------------------------------------------------


@pytest.mark.parametrize("command", [["init"], ["db", "upgrade"]])
def test_upgrade_from_0002_keeps_every_row(cli, engine, old_store, command):
    assert sum(len(rows) for rows in old_store.values()) == 17
    result = cli(*command, "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    if command == ["init"]:
        assert (data["upgraded_from"], data["schema_revision"]) == ("0002", schema.HEAD_REVISION)
        assert data["created"] == []
    else:
        assert (data["upgraded_from"], data["schema_revision"]) == ("0002", schema.HEAD_REVISION)
    assert snapshot(engine, ADMIN_TABLES + CUSTOMER_TABLES) == old_store
    # Upgraded, the schema is the one a fresh `twofa init` makes, constraints included.
    assert schema_differences(engine) == []


def test_upgrade_from_0001_keeps_every_row(cli, engine):
    schema.upgrade(engine, "0001")
    fill_admin_side(engine)
    before = snapshot(engine, ADMIN_TABLES)
    result = cli("db", "upgrade", "--json")
    assert result.exit_code == 0, result.stderr
    assert (result.json["upgraded_from"], result.json["schema_revision"]) == (
        "0001", schema.HEAD_REVISION)
    assert snapshot(engine, ADMIN_TABLES) == before
    assert snapshot(engine, CUSTOMER_TABLES) == {m.__tablename__: [] for m in CUSTOMER_TABLES}


def test_upgraded_rows_get_the_new_rules(cli, engine, old_store):
    """0003 and 0004 act on rows written before them."""
    assert cli("db", "upgrade").exit_code == 0
    with engine.begin() as connection:  # 0003: the provider's deliveries outlive it
        connection.execute(text("DELETE FROM challenge"))
        connection.execute(text("DELETE FROM entry"))
        connection.execute(text("DELETE FROM secondary_auth WHERE provider_id = 1"))
        connection.execute(text("DELETE FROM provider WHERE id = 1"))
    with engine.connect() as connection:
        left = connection.execute(text("SELECT provider_id FROM delivery ORDER BY id")).all()
    assert left == [(None,), (None,), (None,)]
    with pytest.raises(IntegrityError), engine.begin() as connection:  # 0004
        connection.execute(insert(Challenge.__table__).values(
            account_id=1, purpose="login", secondary_auth_id=2, destination="a@example.com",
            code_hmac="", status="expired", attempts=0, sends=0, expires_at=T0, created_at=T0))


def test_0005_folds_email_destinations_and_keys_the_send_budgets(cli, engine, old_store):
    schema.upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(insert(old_table(Entry)), [
            {"id": 2, "account_id": 1, "secondary_auth_id": 2, "destination": "Alice@Example.com",
             "created_at": T0},
            {"id": 3, "account_id": 2, "secondary_auth_id": 2, "destination": "Root@Example.com",
             "created_at": T0},
            {"id": 4, "account_id": 2, "secondary_auth_id": 2, "destination": "root@example.com",
             "created_at": T0},
        ])
        connection.execute(text("UPDATE challenge SET destination = 'Alice@Example.com' WHERE id = 2"))
        connection.execute(insert(old_table(Delivery)), [
            {"id": 4, "provider_id": 2, "destination": "Victim@Example.com",
             "provider_message_id": "outbox-4", "sent_at": T0}])
    assert cli("db", "upgrade").exit_code == 0
    with engine.connect() as connection:
        entries = connection.execute(text("SELECT id, destination FROM entry ORDER BY id")).all()
        pending = connection.execute(text("SELECT destination FROM challenge WHERE id = 2")).scalar()
        budgets = connection.execute(text("SELECT budget FROM delivery ORDER BY id")).scalars().all()
        lockouts = connection.execute(text("SELECT lockouts FROM account ORDER BY id")).scalars().all()
    # entry 3 would collide with entry 4 once folded: it keeps its spelling
    assert entries == [(1, "+14155550123"), (2, "alice@example.com"), (3, "Root@Example.com"),
                       (4, "root@example.com")]
    assert pending == "alice@example.com"
    assert budgets == ["+14155550123"] * 3 + ["victim@example.com"]
    assert lockouts == [0, 0]


def test_a_failing_upgrade_changes_nothing(engine, old_store):
    """All revisions run in one transaction: a row 0004 refuses stops the whole upgrade."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE challenge SET status = 'expired' WHERE id = 2"))
    before = snapshot(engine, ADMIN_TABLES + CUSTOMER_TABLES)
    with pytest.raises(IntegrityError):
        schema.upgrade(engine)
    assert schema.current_revision(engine) == "0002"  # not 0003: that step was undone too
    assert snapshot(engine, ADMIN_TABLES + CUSTOMER_TABLES) == before
    assert schema_differences(engine) != []  # still the 0002 schema


def test_upgrade_is_idempotent(cli, home):
    first = cli("db", "upgrade", "--json")
    second = cli("db", "upgrade", "--json")
    assert first.exit_code == second.exit_code == 0
    head = schema.HEAD_REVISION
    assert first.json == second.json
    assert (second.json["upgraded_from"], second.json["schema_revision"]) == (None, head)
    again = cli("init", "--json")
    assert again.exit_code == 0
    assert (again.json["schema_revision"], again.json["upgraded_from"]) == (head, None)


def test_downgrade_to_base_and_back(engine):
    assert set(schema.table_names(engine)) <= {schema.VERSION_TABLE}
    assert schema.current_revision(engine) is None
    assert schema.upgrade(engine) == (None, schema.HEAD_REVISION)
    assert schema_differences(engine) == []


# -- what commands do with an old schema ----------------------------------------------


def test_db_status_reports_current_and_head(cli, engine, old_store):
    result = cli("db", "status", "--json")
    assert result.exit_code == 0
    assert result.json["schema_revision"] == "0002"
    assert result.json["head_revision"] == schema.HEAD_REVISION
    assert result.json["up_to_date"] is False
    assert "database" in result.json
    assert cli("db", "upgrade").exit_code == 0
    after = cli("db", "status", "--json").json
    assert (after["schema_revision"], after["head_revision"], after["up_to_date"]) == (
        schema.HEAD_REVISION, schema.HEAD_REVISION, True)
    human = cli("db", "status")
    assert human.exit_code == 0 and schema.HEAD_REVISION in human.stdout


def test_an_old_schema_stops_commands_until_db_upgrade(cli, engine):
    schema.upgrade(engine, "0001")
    fill_admin_side(engine)

    stopped = cli("provider", "list")
    assert stopped.exit_code == 1
    assert "run `twofa db upgrade`" in stopped.stderr
    assert "Traceback" not in stopped.stdout + stopped.stderr
    as_json = cli("provider", "list", "--json")
    assert as_json.exit_code == 1
    assert as_json.json["error"]["code"] == "schema_out_of_date"
    assert "twofa db upgrade" in as_json.json["error"]["message"]

    assert cli("db", "upgrade").exit_code == 0
    listed = cli("provider", "list", "--json")
    assert listed.exit_code == 0
    assert [p["title"] for p in listed.json] == ["SMS", "Email ünïcode"]


def test_a_schema_newer_than_this_twofa_asks_to_upgrade_twofa(cli, home):
    """Another host ran a newer twofa's `db upgrade`: this host must not touch the store."""
    engine = make_engine(load_settings(home).database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for command in (["provider", "list"], ["db", "upgrade"]):
        result = cli(*command, "--json")
        assert result.exit_code == 1
        assert result.json["error"]["code"] == "schema_out_of_date"
        assert "install the newer twofa" in result.json["error"]["message"]
    status = cli("db", "status", "--json").json
    assert (status["schema_revision"], status["up_to_date"]) == ("0099", False)


def test_a_store_without_schema_asks_for_init(cli, engine):
    result = cli("provider", "list", "--json")
    assert result.exit_code == 1
    assert result.json["error"]["code"] == "not_initialised"
    assert "twofa init" in result.json["error"]["message"]
