"""Production settings: `check --deploy` is clean with DEBUG=0 and only the documented variables;
each HTTPS default can be turned off for a plain-HTTP intranet; a proxy's header is settable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-key-" + "x7Qm2Lp9Vz4Rt8Kw3Nb6Hy1Jd5Fg0Sc" * 2,
    "ALLOWED_HOSTS": "approvals.example.com",
    # Production sends notification mail by SMTP: without it Django's check rightly reports that
    # mail would only be printed.
    "EMAIL_HOST": "smtp.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py`` in a fresh process with exactly these variables (embedded mode)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SHOW = (
    "from django.conf import settings as s; import json; print(json.dumps({k: getattr(s, k, None) for k in "
    "['SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'CSRF_TRUSTED_ORIGINS', 'SECURE_PROXY_SSL_HEADER']}))"
)


def settings_with(**env: str) -> dict:
    result = manage("shell", "-c", SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_reports_nothing_with_debug_off():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_https_defaults_with_debug_off_and_not_in_development():
    production = settings_with(**PRODUCTION)
    assert production["SECURE_SSL_REDIRECT"] and production["SESSION_COOKIE_SECURE"]
    assert production["CSRF_COOKIE_SECURE"] and production["SECURE_HSTS_SECONDS"] >= 31_536_000
    development = settings_with()
    assert not development["SECURE_SSL_REDIRECT"] and not development["SESSION_COOKIE_SECURE"]
    assert development["SECURE_HSTS_SECONDS"] == 0


def test_a_plain_http_intranet_turns_each_off():
    off = settings_with(
        **PRODUCTION,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
    )
    assert off["SECURE_SSL_REDIRECT"] is False and off["SECURE_HSTS_SECONDS"] == 0
    assert off["SESSION_COOKIE_SECURE"] is False and off["CSRF_COOKIE_SECURE"] is False


def test_behind_a_tls_proxy():
    proxied = settings_with(
        **PRODUCTION,
        CSRF_TRUSTED_ORIGINS="https://approvals.example.com,https://other.example.com",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    assert proxied["CSRF_TRUSTED_ORIGINS"] == ["https://approvals.example.com", "https://other.example.com"]
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    bad = manage("check", **PRODUCTION, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    assert bad.returncode != 0 and "SECURE_PROXY_SSL_HEADER must be 'HEADER,value'" in bad.stderr


@pytest.mark.django_db
def test_pages_carry_the_content_security_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_template_has_inline_script_style_or_event_handlers():
    import re

    templates = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    assert templates
    for path in templates:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path  # only <script src=...>
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|hx-on|javascript:", text), path
