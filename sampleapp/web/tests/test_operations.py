# mypy: disable-error-code="no-untyped-def"
"""The operations contract: /healthz, /readyz, X-Served-By, one log line per request."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from sampleapp.progress import Progress
from sampleapp.web import deployment
from sampleapp.web.conftest import django_command, finish

READYZ = (
    "import django; django.setup(); from django.test import Client; "
    "r = Client().get('/readyz'); print(r.status_code, r.content.decode())"
)


def readyz_in_child(env: dict[str, str]) -> tuple[int, dict[str, object], str]:
    """The status and body of /readyz in a child process, and everything else it printed."""
    *log, last = finish(django_command(env, "shell", "-c", READYZ)).strip().splitlines()
    status, body = last.split(" ", 1)
    return int(status), json.loads(body), "\n".join(log)


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_the_database_answers_and_is_migrated(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_pending_migrations(client: Client) -> None:
    MigrationRecorder(connection).migration_qs.filter(app="microposts").delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert "microposts.0001_initial" in body["checks"]["migrations"]


def test_readyz_is_503_on_a_database_never_migrated(subprocess_env, tmp_path: Path) -> None:
    env = {**subprocess_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    status, body, _ = readyz_in_child(env)
    assert status == 503
    assert "pending" in body["checks"]["migrations"]  # type: ignore[index]


def test_readyz_is_503_when_the_database_is_unreachable_and_only_the_log_says_why(
    subprocess_env,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**subprocess_env, "DATABASE_URL": f"postgres://nobody:x@127.0.0.1:{port}/nothing"}
    status, body, log = readyz_in_child(env)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "migrations": "unknown"},
    }
    assert "127.0.0.1" in log
    assert str(port) in log


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_head_on_a_health_endpoint_answers_like_get(client: Client, path: str) -> None:
    head, get = client.head(path), client.get(path)
    assert head.status_code == get.status_code == 200
    assert head["Content-Type"] == get["Content-Type"] == "application/json"
    assert head.content == b""


def test_every_response_says_which_instance_served_it(client: Client) -> None:
    assert client.get("/healthz")["X-Served-By"] == settings.INSTANCE_ID
    assert client.get("/no/such/page")["X-Served-By"] == settings.INSTANCE_ID


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def request_log() -> Iterator[list[str]]:
    handler = _Records()
    logger = logging.getLogger("sampleapp.requests")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_each_request_logs_one_line_with_method_path_and_status(
    client: Client, request_log: list[str]
) -> None:
    client.get("/help?x=1")
    client.post("/microposts")
    assert len(request_log) == 2
    assert request_log[0].startswith(f"{settings.INSTANCE_ID} GET /help?x=1 200 ")
    assert request_log[1].startswith(f"{settings.INSTANCE_ID} POST /microposts 302 ")


@pytest.mark.django_db
def test_static_files_are_served_by_the_app(client: Client) -> None:
    response = client.get("/static/css/custom.css")
    assert response.status_code == 200
    assert b".gravatar" in b"".join(response.streaming_content)  # type: ignore[attr-defined]


FORM = b"session%5Bemail%5D=a%40b.com&session%5Bpassword%5D=x%E9"
MULTIPART = b'--XX\r\nContent-Disposition: form-data; name="user[name]"\r\n\r\nx\xe9\r\n--XX--\r\n'


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "content_type", "body"),
    [
        ("POST", "application/x-www-form-urlencoded; charset=latin-1", FORM),
        ("POST", "multipart/form-data; boundary=XX; charset=rot13", MULTIPART),
        ("POST", "multipart/form-data; boundary=XX; charset=latin-1", MULTIPART),
        ("PATCH", "application/x-www-form-urlencoded; charset=base64", FORM),
        ("DELETE", "application/x-www-form-urlencoded; charset=utf-16", FORM),
    ],
    ids=["post-latin1", "multipart-rot13", "multipart-latin1", "patch-base64", "delete-utf16"],
)
def test_a_form_whose_charset_is_not_utf8_is_a_400(method, content_type, body, user) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    path = "/sessions" if method == "POST" else f"/users/{user.pk}"
    response = client.generic(method, path, body, content_type=content_type)
    assert response.status_code == 400
    user.refresh_from_db()  # still there, unchanged


@pytest.mark.django_db
def test_a_form_in_utf8_whatever_the_spelling_is_accepted(user) -> None:
    for charset in ("", "; charset=utf-8", "; charset=UTF-8"):
        response = Client().generic(
            "POST",
            "/sessions",
            b"session%5Bemail%5D=nobody%40example.com&session%5Bpassword%5D=x",
            content_type=f"application/x-www-form-urlencoded{charset}",
        )
        assert response.status_code == 200, charset


@pytest.mark.django_db
def test_the_migrate_role_clears_expired_sessions() -> None:
    expired, live = SessionStore(), SessionStore()
    for session, seconds in ((expired, -60), (live, 3600)):
        session["return_to"] = "/users"
        session.set_expiry(timezone.now() + dt.timedelta(seconds=seconds))
        session.save()
    deployment.run(timeout=10, progress=Progress(stream=io.StringIO()))
    left = set(Session.objects.values_list("session_key", flat=True))
    assert left == {live.session_key}
