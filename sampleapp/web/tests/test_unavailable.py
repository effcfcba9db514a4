# mypy: disable-error-code="no-untyped-def"
"""A database outage is a 503 with the proxy's "unavailable" page and Retry-After, never a 500.

The main test runs the app as it is deployed: a real gunicorn app server (``sampleapp serve``,
production settings, DEBUG off) on a PostgreSQL server of its own, which is killed while the app
serves (``pg_ctl stop -m immediate``: every backend dies at once, as when the database container
is killed) and then started again. The smaller tests send requests through Django's whole handler
that fail in a middleware, by a real refused connection or by a plain bug, which must stay a 500.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db.utils import ConnectionHandler
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings

from tests.discovery.servers import AppServer
from tests.support import site
from tests.support.etcd import free_port, wait_until
from tests.support.nginx import SAMPLEAPP
from tests.support.postgres import PostgresServer

PROXY_PAGE = (Path(settings.REPO_DIR) / "deploy" / "nginx" / "503.html").read_text()
HEADLINE = re.search(r"<h1>(.*?)</h1>", PROXY_PAGE, re.S).group(1)  # type: ignore[union-attr]
TITLE = re.search(r"<title>(.*?)</title>", PROXY_PAGE, re.S).group(1)  # type: ignore[union-attr]


def assert_unavailable(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == 503, f"{where}: {response.status_code}\n{response.text[:300]}"
    assert int(response.headers["Retry-After"]) > 0, where
    assert f"<title>{TITLE}</title>" in response.text, where
    assert f"<h1>{HEADLINE}</h1>" in response.text, where


@dataclass
class Site:
    server: AppServer
    database: PostgresServer

    def kill_database(self) -> None:
        """Every PostgreSQL process dies at once, like ``docker kill``.

        This throw-away server runs with synchronous_commit off, so what was committed (the
        session of the signed-in client) is made durable first, as a real server's would be.
        """
        with psycopg.connect(self.database.url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
        pg_ctl = str(self.database.bindir / "pg_ctl")
        self.database._run(pg_ctl, "-D", str(self.database.data), "-m", "immediate", "-w", "stop")

    def start_database_again(self) -> None:
        """The same server, options (postmaster.opts) and data: ``restart`` of a stopped one."""
        pg_ctl = str(self.database.bindir / "pg_ctl")
        data, log = str(self.database.data), str(self.database.log)
        self.database._run(pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "restart")


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [SAMPLEAPP, "manage", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"sampleapp manage {args[0]}:\n{done.stdout}{done.stderr}"


def ready(server: AppServer) -> bool:
    assert server.process is not None
    if server.process.poll() is not None:
        pytest.fail(f"sampleapp serve exited {server.process.returncode}:\n{server.log()[-3000:]}")
    return server.answers("/readyz") == 200


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A production app server on a migrated PostgreSQL holding the demo user."""
    base = tmp_path_factory.mktemp("outage")
    database = PostgresServer().start()
    server: AppServer | None = None
    try:
        with psycopg.connect(database.url.replace("/sampleapp", "/postgres"), autocommit=True) as c:
            c.execute("CREATE DATABASE sampleapp")
        env = {
            "SAMPLEAPP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": database.url,
            "EMAIL_URL": "console://",
            "SITE_URL": "http://127.0.0.1",
        }
        child = {"PATH": "/usr/bin:/bin", "SAMPLEAPP_DATA_DIR": str(base), **env}
        manage(child, "migrate", "--noinput")
        manage(child, "collectstatic", "--noinput", "-v0")  # production links the manifest's names
        create = (
            "from sampleapp.web.users.models import User; User.objects.create_user("
            f"name='Example User', email={site.DEMO_EMAIL!r}, password={site.DEMO_PASSWORD!r}, "
            "activated=True)"
        )
        manage(child, "shell", "-c", create)
        server = AppServer(base, base, "outage", endpoints="", **env).start()
        wait_until(lambda: ready(server), 120, "the app server to be ready")
        yield Site(server, database)
    finally:
        if server is not None:
            server.stop()
        database.stop()


@pytest.mark.slow
def test_a_killed_database_gives_503_pages_with_retry_after_and_the_site_comes_back(
    live_site: Site,
) -> None:
    url = live_site.server.url
    with site.client(url) as anonymous, site.client(url) as signed_in:
        site.sign_in(signed_in)
        user_page = signed_in.get("/users")
        profile = re.search(r'href="(/users/\d+)"', user_page.text).group(1)  # type: ignore[union-attr]
        home = signed_in.get("/")
        token, anonymous_token = (
            site.csrf_token(home.text),
            site.csrf_token(anonymous.get("/signin").text),
        )
        live_site.kill_database()

        answers = [
            anonymous.get(profile),
            anonymous.post(
                "/sessions",
                data={
                    "csrfmiddlewaretoken": anonymous_token,
                    "session[email]": site.DEMO_EMAIL,
                    "session[password]": site.DEMO_PASSWORD,
                },
                headers={"Referer": f"{url}/signin"},
            ),
            signed_in.get("/"),
            signed_in.get("/help"),
            signed_in.get(profile),
            signed_in.post(
                "/microposts",
                data={"csrfmiddlewaretoken": token, "micropost[content]": "during the outage"},
                headers={"Referer": f"{url}/"},
            ),
        ]
        for response in answers:
            assert_unavailable(response)
        assert live_site.server.answers("/readyz") == 503

        live_site.start_database_again()
        wait_until(lambda: signed_in.get("/help").status_code == 200, 120, "the site to come back")
        assert "Sign out" in signed_in.get("/help").text  # the session survived the outage
        assert anonymous.get(profile).status_code == 200
        posted = site.post_micropost(signed_in, "after the outage")
        assert posted.status_code == 200 and "Micropost created!" in posted.text


# Requests through Django's whole handler (the middleware chain, the URL map, the error handlers)
# that fail in a middleware, before any view runs: a database that refuses connections, or a bug.


def refused_connection() -> None:
    """Connect, through Django's database layer, to a PostgreSQL port where nothing listens."""
    connections = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": free_port(),
                "NAME": "nothing",
                "USER": "nobody",
            }
        }
    )
    try:
        connections["default"].ensure_connection()
    finally:
        connections.close_all()


def bug() -> None:
    raise ZeroDivisionError("a bug in the application")


FAULTS = {"database": refused_connection, "bug": bug}


class FailingMiddleware:
    """Fails as loading the session or the user in a middleware would, on /fail/<fault>."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/fail/"):
            FAULTS[request.path.removeprefix("/fail/")]()
        return self.get_response(request)


@pytest.mark.parametrize(("fault", "status"), [("database", 503), ("bug", 500)])
def test_a_database_error_in_a_middleware_is_503_and_a_bug_stays_500(
    fault: str, status: int, django_db_blocker
) -> None:
    middleware = [*settings.MIDDLEWARE, f"{__name__}.FailingMiddleware"]
    with override_settings(MIDDLEWARE=middleware), django_db_blocker.unblock():
        response = Client(raise_request_exception=False).get(f"/fail/{fault}")
    assert response.status_code == status
    unavailable = status == 503
    assert (f"<h1>{HEADLINE}</h1>" in response.content.decode()) == unavailable
    assert ("Retry-After" in response) == unavailable
