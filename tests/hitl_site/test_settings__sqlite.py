"""Any SQLite database gets the options the in-process worker needs, not only the default file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
import django
from django.conf import settings
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    synchronous = cursor.fetchone()[0]
    cursor.execute("PRAGMA busy_timeout")
    busy_timeout = cursor.fetchone()[0]
db = settings.DATABASES["default"]
print(json.dumps({
    "name": str(db["NAME"]),
    "options": db["OPTIONS"],
    "test_name": str(db["TEST"]["NAME"]),
    "journal_mode": journal_mode,
    "synchronous": synchronous,
    "busy_timeout": busy_timeout,
}))
"""


def _probe(env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")} | env
    env["DJANGO_SETTINGS_MODULE"] = "hitl_site.settings"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_sqlite_database_url_gets_wal_immediate_transactions_and_a_busy_timeout(tmp_path):
    path = tmp_path / "x.sqlite3"
    seen = _probe({"DATABASE_URL": f"sqlite:///{path}"})

    assert seen["name"] == str(path)
    assert seen["options"]["transaction_mode"] == "IMMEDIATE"
    assert seen["options"]["timeout"] == 20
    assert "PRAGMA synchronous=NORMAL" in seen["options"]["init_command"]
    assert seen["journal_mode"] == "wal"
    assert seen["synchronous"] == 1  # NORMAL
    assert seen["busy_timeout"] == 20_000
    # The test database is a file too (a forked live test server shares it), not "test_/tmp/...".
    assert seen["test_name"].endswith(".sqlite3") and "/" in seen["test_name"]
    assert not seen["test_name"].startswith("test_")


def test_the_default_file_keeps_the_same_options(tmp_path):
    seen = _probe({})

    assert seen["name"].endswith("db.sqlite3")
    assert seen["options"]["transaction_mode"] == "IMMEDIATE"
    assert seen["journal_mode"] == "wal"
    assert seen["synchronous"] == 1
