"""twofa's customer flow against the peer a Python shop would pick: django-otp's EmailDevice.

One process, one thread, a SQLite file each in WAL mode with the same settings
(synchronous=NORMAL, a 30 s busy timeout, foreign keys on, BEGIN IMMEDIATE).

- twofa: ``services.enrollment.enroll`` (the code goes to the simulate-mode outbox)
  then ``services.challenges.verify`` with that code, as in benchmarks/throughput.py,
  on a store of ``--accounts`` accounts with a history each.
- django-otp 1.7 ``EmailDevice``, looked up per request: ``generate_challenge`` in
  one ``transaction.atomic()`` and ``verify_token`` in another, with Django's locmem
  mail backend, on as many users with a device each.

A request is one of the two halves (send a code, check it); the code is read back
untimed. Both run in alternating blocks of 50 cycles, so machine load hits both alike.
django-otp does less per request (no HMAC bound to the challenge, no send caps, no
audit rows, no per-account challenge limits).

Target: twofa serves >= 2x the requests a second django-otp does.

Needs the ``bench`` extra: pip install -e '.[bench]'
Usage: python benchmarks/peer.py [--cycles N] [--accounts N]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import throughput  # noqa: E402

BLOCK = 50  # cycles per alternating block
COOLDOWN_SECONDS = 1  # django-otp's wait between two codes of one device (60 s by default)


# -- django-otp ----------------------------------------------------------------------


def setup_django(db: Path, users: int) -> None:
    """Configure Django in this process on ``db`` and create ``users`` users with a device."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="benchmark only",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_otp",
                        "django_otp.plugins.otp_email"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(db),
            "OPTIONS": {
                "timeout": busy_timeout_seconds(),
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        OTP_EMAIL_SENDER="shop@example.com",
        OTP_EMAIL_COOLDOWN_DURATION=COOLDOWN_SECONDS,
    )
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django_otp.plugins.otp_email.models import EmailDevice

    call_command("migrate", verbosity=0)
    User.objects.bulk_create(
        User(username=username(i), email=throughput.email_of(i), password="!") for i in range(1, users + 1))
    by_name = dict(User.objects.values_list("username", "id"))
    EmailDevice.objects.bulk_create(
        EmailDevice(user_id=by_name[username(i)], name="email", confirmed=True,
                    email=throughput.email_of(i)) for i in range(1, users + 1))


def busy_timeout_seconds() -> float:
    """twofa's SQLite busy timeout, for Django's connection too."""
    from twofa_cli.store.engine import SQLITE_BUSY_TIMEOUT_MS

    return SQLITE_BUSY_TIMEOUT_MS / 1000


def username(i: int) -> str:
    return f"user{i:07d}"


def django_cycles(names: list[str]) -> tuple[float, float]:
    from django.core import mail
    from django.db import transaction
    from django_otp.plugins.otp_email.models import EmailDevice

    sending = checking = 0.0
    clock = time.perf_counter
    for name in names:
        start = clock()
        with transaction.atomic():
            device = EmailDevice.objects.get(user__username=name)
            device.generate_challenge()
        sending += clock() - start
        token = re.search(r"\d{6}", mail.outbox.pop().body).group()
        start = clock()
        with transaction.atomic():
            device = EmailDevice.objects.get(user__username=name)
            verified = device.verify_token(token)
        checking += clock() - start
        assert verified
    return sending, checking


# -- the run -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="timed cycles of each (default 1000)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts and users (default 1000)")
    args = parser.parse_args()
    if args.accounts < 1000:
        # A device is reused every --accounts cycles and must be out of its cooldown by then.
        parser.error("give at least 1000 accounts")

    c.isolate()
    c.header("peer: enrol+verify through twofa against django-otp's EmailDevice, one process")
    from twofa_cli.runtime import open_runtime

    root = c.temp_dir("peer")
    try:
        throughput.build_store(root / "twofa", args.accounts)
        setup_django(root / "django.db", args.accounts)
        rt = open_runtime(root / "twofa", actor="webapp")
        reader = sqlite3.connect(root / "twofa" / "twofa.db", isolation_level=None)
        picks = [k % args.accounts + 1 for k in range(args.cycles + 100)]
        twofa_work = [(throughput.email_of(n), f"peer{k:07d}.{n}@example.net") for k, n in enumerate(picks)]
        django_work = [username(n) for n in picks]
        throughput.twofa_cycles(rt, reader, twofa_work[:100])  # warm-up: caches, page cache
        django_cycles(django_work[:100])
        twofa_work, django_work = twofa_work[100:], django_work[100:]
        twofa = [0.0, 0.0]
        django = [0.0, 0.0]
        for start in range(0, args.cycles, BLOCK):
            for total, run, work in ((twofa, lambda w: throughput.twofa_cycles(rt, reader, w), twofa_work),
                                     (django, django_cycles, django_work)):
                send, check = run(work[start:start + BLOCK])
                total[0] += send
                total[1] += check
        rt.engine.dispose()
        reader.close()
    finally:
        c.remove(root)

    n = args.cycles
    for name, index in (("send a code", 0), ("check a code", 1)):
        c.summary(f"peer {name} (SQLite)", f"{n / twofa[index]:.0f} /s",
                  f"{n / django[index]:.0f} /s django-otp", c.ratio(django[index], twofa[index]), "-", None)
    requests_twofa, requests_django = 2 * n / sum(twofa), 2 * n / sum(django)
    c.summary("peer enrol+verify requests (SQLite)", f"{requests_twofa:.0f} /s",
              f"{requests_django:.0f} /s django-otp EmailDevice", c.ratio(sum(django), sum(twofa)),
              ">= 2.00x", sum(django) >= 2 * sum(twofa))
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
