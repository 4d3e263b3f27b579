"""Deployment: settings from the environment pass ``check --deploy``, DEBUG is off unless
asked for, every page carries a Content-Security-Policy that our pages satisfy, and the access
log never records a write key."""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from plg_platform.models import ApiKeyKind, Event
from plg_platform.services.keys import api_key_create

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_DEBUG": "0",  # wins over a developer's .env (read with overwrite=False)
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "plg.example.com",
    "DJANGO_HTTPS": "1",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
}
HTTPS_WARNINGS = ["security.W004", "security.W008", "security.W012", "security.W016"]


def _environment(**variables: str) -> dict[str, str]:
    """This process's environment without any DJANGO_* variable, plus ``variables``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return {**base, "DJANGO_DEBUG": "0", **variables}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _setting(names: str, env: dict[str, str]) -> list[str]:
    """The repr of each setting in ``names``, read by a fresh process with ``env``."""
    code = (
        "from django.conf import settings\n"
        f"for name in {names.split()!r}:\n"
        "    print(repr(getattr(settings, name, None)))\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "plg_platform.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_check_deploy_is_clean_with_production_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_environment(**PRODUCTION))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_without_https_variables_check_deploy_names_what_is_missing():
    env = _environment(DJANGO_SECRET_KEY=PRODUCTION["DJANGO_SECRET_KEY"])

    result = _manage("check", "--deploy", env=env)

    assert sorted(set(re.findall(r"security\.W\d+", result.stderr + result.stdout))) == (
        HTTPS_WARNINGS
    )


def test_https_settings_come_from_the_environment():
    names = (
        "DEBUG SECURE_SSL_REDIRECT SECURE_HSTS_SECONDS SESSION_COOKIE_SECURE "
        "CSRF_COOKIE_SECURE SECURE_PROXY_SSL_HEADER"
    )

    production = _setting(names, _environment(**PRODUCTION))
    single = _setting(
        names,
        _environment(
            DJANGO_SECRET_KEY="x" * 50,
            DJANGO_SECURE_HSTS_SECONDS="60",
            DJANGO_SESSION_COOKIE_SECURE="1",
        ),
    )

    assert production == [
        "False",
        "True",
        "31536000",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
    ]
    assert single == ["False", "False", "60", "True", "False", "None"]


def test_debug_is_off_unless_asked_for_and_make_writes_no_debug(tmp_path):
    without = _setting("DEBUG", _environment(DJANGO_SECRET_KEY="x" * 50) | {"DJANGO_DEBUG": ""})
    subprocess.run(  # noqa: S603
        ["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), ".env"],  # noqa: S607
        check=True,
        timeout=60,
    )
    written = (tmp_path / ".env").read_text()

    assert without == ["False"]
    assert "DJANGO_DEBUG" not in written
    assert re.fullmatch(r"DJANGO_SECRET_KEY=\S{50,}\n", written)
    assert "DEMO_ENV := DJANGO_DEBUG=1" in (ROOT / "Makefile").read_text()


@pytest.mark.django_db
def test_every_page_has_a_content_security_policy_without_inline_scripts():
    response = Client().get("/login/")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response["Content-Security-Policy"].split(";")
        if part.strip()
    )

    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_no_template_of_ours_has_inline_script_or_event_handlers():
    offenders = []
    for template in ROOT.glob("*/templates/**/*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(
            r"\son[a-z]+\s*=\s*[\"']", text
        ):
            offenders.append(str(template.relative_to(ROOT)))

    assert offenders == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_does_not_record_the_segment_write_key(workspace, tmp_path):
    _, write_key = api_key_create(workspace=workspace, kind=ApiKeyKind.INGESTION)
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = _environment(
        DJANGO_SECRET_KEY=PRODUCTION["DJANGO_SECRET_KEY"],
        DATABASE_URL=_database_url(),
    )
    server = subprocess.Popen(  # noqa: S603
        # ./gunicorn.conf.py is read from the working directory, as in production.
        [
            str(Path(sys.executable).with_name("gunicorn")),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
            *("--access-logfile", str(access_log)),
            "plg_platform.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                assert server.poll() is None, "gunicorn exited"
                time.sleep(0.2)
        basic = base64.b64encode(f"{write_key}:".encode()).decode()
        body = (
            b'{"batch": [{"type": "track", "event": "signup", "userId": "u1", "messageId": "m1"}]}'
        )
        request = (
            f"POST /v1/batch?writeKey={write_key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Basic {basic}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(request)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        deadline = time.monotonic() + 10
        while "/v1/batch" not in (access_log.read_text() if access_log.exists() else ""):
            assert time.monotonic() < deadline, "nothing in the access log"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)

    log = access_log.read_text()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert Event.objects.filter(workspace=workspace, event="signup").count() == 1
    assert '"POST /v1/batch HTTP/1.1" 200' in log
    assert write_key not in log
    assert write_key[:12] not in log
