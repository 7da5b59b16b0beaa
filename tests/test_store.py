"""The store itself: SQLite settings, file modes, constraints, and clean connection errors."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from tests.conftest import TWILIO_SID, TWILIO_TOKEN
from twofa_cli.errors import Throttled
from twofa_cli.errors import DatabaseUnavailable
from twofa_cli.store.engine import make_engine, transaction
from twofa_cli.store.models import Challenge, Delivery, Entry

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.sqlite_only
def test_sqlite_connections_use_wal_normal_sync_busy_timeout_and_foreign_keys(rt):
    with rt.engine.connect() as connection:
        def pragma(name):
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") == 30_000
        assert pragma("foreign_keys") == 1


@pytest.mark.sqlite_only
def test_database_and_key_files_are_owner_only(rt, sms_setup):
    home = rt.settings.home
    assert mode(home) == 0o700
    assert mode(rt.settings.key_file) == 0o600
    assert mode(rt.settings.config_file) == 0o600
    # The WAL and shared-memory files hold recent pages of the database: owner-only too.
    database = home / "twofa.db"
    files = [database, home / "twofa.db-wal", home / "twofa.db-shm"]
    assert all(f.exists() for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_foreign_keys_are_enforced(rt):
    with pytest.raises(IntegrityError):
        with rt.transaction() as session:
            session.execute(insert(Entry).values(
                account_id=999, secondary_auth_id=999, destination="+14155550123", created_at=NOW))


@pytest.mark.parametrize("column, value", [("status", "expired"), ("purpose", "signup")])
def test_challenge_refuses_unknown_status_and_purpose(rt, sms_setup, column, value):
    from twofa_cli.services import enrollment

    enrollment.enroll(rt, "alice@example.com", method="Text message", phone="+14155550123")
    with pytest.raises(IntegrityError):
        with rt.transaction() as session:
            session.execute(text(f"UPDATE challenge SET {column} = :value"), {"value": value})
    with rt.transaction() as session:
        challenge = session.exec(select(Challenge)).one()
    assert (challenge.status, challenge.purpose) == ("pending", "enroll")


def test_removing_a_provider_keeps_its_deliveries_counted(rt, sms_setup):
    """Revision 0003: the per-destination cap survives removing and re-adding a provider."""
    from twofa_cli.services import delivery, providers

    to = "+14155550123"
    delivery.send_test(rt, "SMS", to=to)
    providers.remove_provider(rt, "SMS", cascade=True)
    with rt.transaction() as session:
        orphans = session.exec(select(Delivery.provider_id, Delivery.destination)).all()
    assert orphans == [(None, to)]

    providers.add_provider(rt, channel="twilio", title="SMS 2", options={
        "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155550100"})
    cap = rt.settings.throttle.max_per_destination_per_hour
    for _ in range(cap - 1):
        delivery.send_test(rt, "SMS 2", to=to)
    with pytest.raises(Throttled):
        delivery.send_test(rt, "SMS 2", to=to)
    with rt.transaction() as session:
        assert session.exec(select(func.count()).select_from(Delivery)).one() == cap


def test_transaction_rolls_back_on_error(rt, sms_setup):
    with pytest.raises(RuntimeError):
        with transaction(rt.engine) as session:
            session.execute(text("DELETE FROM secondary_auth"))
            raise RuntimeError("crash mid-way")
    with rt.transaction() as session:
        assert session.exec(text("SELECT count(*) FROM secondary_auth")).scalar() == 1


@pytest.mark.sqlite_only
def test_unreachable_postgresql_is_a_one_line_error_without_the_password(cli, monkeypatch):
    # Port 1 refuses connections at once; no server is needed.
    monkeypatch.setenv("TWOFA_DATABASE_URL", "postgresql+psycopg://shop:hunter2@127.0.0.1:1/shop")
    result = cli("provider", "list", "--json")
    assert result.exit_code == 1
    error = result.json["error"]
    assert error["code"] == "database_unavailable"
    assert "127.0.0.1:1/shop" in error["message"]
    assert "hunter2" not in result.stdout + result.stderr


def test_sqlite_file_in_a_missing_folder_is_a_clean_error(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="cannot create the database file"):
        make_engine(f"sqlite:///{tmp_path / 'missing' / 'twofa.db'}")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("moment", [
    datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(2026, 1, 15, 12, 0),  # naive: taken as UTC
    datetime(2026, 6, 1, 14, 30, 15, 250_000).astimezone(),  # another zone
])
def test_timestamps_are_stored_as_sqlalchemy_formats_them(rt, moment):
    """The hot path's timestamp binding (models._sqlite_datetime) writes SQLAlchemy's own
    SQLite storage format, so old rows and new compare and sort alike."""
    from sqlalchemy.dialects.sqlite import DATETIME

    from twofa_cli.store.models import UTCDateTime

    dialect = rt.engine.dialect
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    utc = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    assert fast(moment) == DATETIME().bind_processor(dialect)(utc)
    assert fast(None) is None
