"""What the proxy serves without an app server, and what it never may: static files and the page
cache, through the real nginx (rendered from the template) in front of a production app server.

The app servers run with the production settings, on static files collected as the image collects
them (hashed names, .gz copies, the manifest), on a SQLite file of their own holding one user.
``steady`` keeps pages for 10 minutes, so that a second request finds the first one's page
however slow the machine; ``fresh`` runs the default expiry, which a new post must beat.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.discovery.conftest import StartRenderer, StartServer
from tests.discovery.servers import AppServer, migrate
from tests.support import site
from tests.support.etcd import EtcdCluster, wait_until
from tests.support.nginx import SAMPLEAPP

NAME, EMAIL, PASSWORD = "Cache Tester", "cache-tester@example.com", "cache-password"
IMMUTABLE = "public, max-age=31536000, immutable"
HASHED = re.compile(r"\.[0-9a-f]{12}\.\w+$")
GZIP, IDENTITY = {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "identity"}  # httpx: gzip
LINKED = re.compile(r'(?:href|src|data-[\w-]+)="(/static/[^"]+)"')


@dataclass(frozen=True)
class Data:
    env: dict[str, str]  # the production settings of the app servers
    collected: Path  # STATIC_ROOT, as collectstatic wrote it
    user_id: int


@dataclass(frozen=True)
class Proxied:
    url: str
    server: AppServer
    static_root: Path  # what nginx serves /static/ from

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=20, trust_env=False)


def sampleapp_manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [SAMPLEAPP, "manage", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def data(base_dir: Path) -> Data:
    root = base_dir / "caching"
    root.mkdir(mode=0o755)
    migrate(root, base_dir / "caching-migrate.log")
    env = {
        "SAMPLEAPP_ENV": "production",
        "SAMPLEAPP_DATA_DIR": str(root),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "SITE_URL": "http://127.0.0.1",
        "EMAIL_URL": "console://",
        "STATIC_ROOT": str(root / "public"),
    }
    sampleapp_manage(env, "collectstatic", "--noinput", "-v0")
    create = (
        "from sampleapp.web.users.models import User; print(User.objects.create_user("
        f"name={NAME!r}, email={EMAIL!r}, password={PASSWORD!r}, activated=True).pk)"
    )
    user_id = int(sampleapp_manage(env, "shell", "-c", create).split()[-1])
    return Data(env, root / "public", user_id)


@pytest.fixture(scope="module")
def proxied(
    data: Data, etcd: EtcdCluster, start_server: StartServer, start_renderer: StartRenderer
) -> Callable[..., Proxied]:
    def start(name: str, static_root: Path, **env: str) -> Proxied:
        prefix = f"/services/{name}/"
        env = {**data.env, **env, "SERVICES_PREFIX": prefix}
        server = start_server(name, etcd.env_endpoints, Path(env["SAMPLEAPP_DATA_DIR"]), **env)
        renderer = start_renderer(
            name, etcd.env_endpoints, prefix, NGINX_STATIC_ROOT=str(static_root)
        )
        renderer.wait_for_servers(1, timeout=60)
        return Proxied(renderer.url, server, static_root)

    return start


@pytest.fixture(scope="module")
def steady(data: Data, base_dir: Path, proxied: Callable[..., Proxied]) -> Proxied:
    """Pages kept 10 minutes; nginx's copy of the static files lacks the unavailable page's
    stylesheet (linked by no page it serves), as a proxy of another release would."""
    proxy_root = base_dir / "caching-proxy-public"
    shutil.copytree(data.collected, proxy_root)
    for stylesheet in (proxy_root / "css").glob("unavailable.*.css*"):
        stylesheet.unlink()
    return proxied("steady", proxy_root, PAGE_CACHE_SECONDS="600")


@pytest.fixture(scope="module")
def fresh(data: Data, proxied: Callable[..., Proxied]) -> Proxied:
    """The default expiry (PAGE_CACHE_SECONDS unset)."""
    return proxied("fresh", data.collected)


@contextmanager
def signed_in(proxy: Proxied) -> Iterator[httpx.Client]:
    """A client signed in through the form: it carries the session cookie from then on."""
    with site.client(proxy.url) as http:
        site.sign_in(http, EMAIL, PASSWORD)
        assert "sessionid" in http.cookies
        yield http


def test_every_static_file_the_pages_link_comes_from_nginx_hashed_cached_a_year_and_gzipped(
    steady: Proxied,
) -> None:
    linked = {url for page in ("/", "/signin") for url in LINKED.findall(steady.get(page).text)}
    assert {url.rsplit(".", 1)[-1] for url in linked} >= {"css", "js", "svg"}, linked
    for url in sorted(linked):
        assert HASHED.search(url), f"{url}: production links the manifest's hashed names"
        plain, gzipped = steady.get(url, **IDENTITY), steady.get(url, **GZIP)
        for response in (plain, gzipped):
            assert response.status_code == 200, url
            assert "X-Served-By" not in response.headers, f"{url} reached an app server"
            assert response.headers["Cache-Control"] == IMMUTABLE, url
        assert "Content-Encoding" not in plain.headers
        assert gzipped.headers["Content-Encoding"] == "gzip", url
        assert plain.content == gzipped.content == (steady.static_root / url[8:]).read_bytes()


def test_a_static_file_the_proxy_lacks_is_served_by_an_app_server(steady: Proxied) -> None:
    """During a roll a page may link a file of another release than the proxy's."""
    manifest = httpx.get(steady.url + "/static/staticfiles.json", trust_env=False).json()
    name = manifest["paths"]["css/unavailable.css"]
    assert not (steady.static_root / name).exists()
    response = steady.get(f"/static/{name}")
    assert response.status_code == 200 and "text/css" in response.headers["Content-Type"]
    assert response.headers["X-Served-By"] == "steady"


def test_an_anonymous_page_is_fetched_from_an_app_server_once_then_from_the_cache(
    steady: Proxied,
) -> None:
    path = f"/?visit={secrets.token_hex(4)}"  # a page no other test asked for
    first, second = steady.get(path), steady.get(path)
    assert first.headers["X-Cache-Status"] == "MISS" and first.headers["X-Served-By"] == "steady"
    assert second.headers["X-Cache-Status"] == "HIT" and second.text == first.text
    assert "Welcome to the Sample App" in second.text
    assert "X-Accel-Expires" not in second.headers  # the app's mark is for nginx only
    gzipped = steady.get(path, **GZIP)
    assert gzipped.headers["X-Cache-Status"] == "HIT"
    assert gzipped.headers["Content-Encoding"] == "gzip" and gzipped.text == first.text


def test_a_signed_in_user_never_gets_a_cached_page_and_theirs_is_never_kept_for_anyone(
    steady: Proxied,
) -> None:
    path = f"/?visit={secrets.token_hex(4)}"
    with signed_in(steady) as http:
        mine = http.get(path)
        assert mine.headers["X-Cache-Status"] == "BYPASS" and NAME in mine.text
        anonymous = [steady.get(path), steady.get(path)]
        assert [page.headers["X-Cache-Status"] for page in anonymous] == ["MISS", "HIT"]
        for page in anonymous:
            assert NAME not in page.text and "Welcome to the Sample App" in page.text
        again = http.get(path)  # the anonymous page is in the cache now
        assert again.headers["X-Cache-Status"] == "BYPASS" and NAME in again.text


def test_a_flash_message_cookie_neither_reads_nor_fills_the_cache(steady: Proxied) -> None:
    path = f"/help?visit={secrets.token_hex(4)}"
    steady.get(path)
    flashed = steady.get(path, Cookie="messages=anything")
    assert flashed.headers["X-Cache-Status"] == "BYPASS"


def test_a_response_setting_a_cookie_is_never_cached(steady: Proxied) -> None:
    forms = [steady.get("/signin"), steady.get("/signin")]  # each sets its form's CSRF cookie
    for form in forms:
        assert form.headers["X-Cache-Status"] == "MISS"
        assert "csrftoken=" in form.headers["Set-Cookie"]
    assert site.csrf_token(forms[0].text) != site.csrf_token(forms[1].text)


def test_a_new_post_shows_to_anonymous_visitors_within_the_page_cache_expiry(
    fresh: Proxied, data: Data
) -> None:
    profile = f"/users/{data.user_id}"
    assert fresh.get(profile).headers["X-Cache-Status"] in {"MISS", "EXPIRED", "HIT"}
    content = f"Fresh news {secrets.token_hex(4)}"
    with signed_in(fresh) as http:
        assert "Micropost created!" in site.post_micropost(http, content).text
    # Deadline far above the expiry (2 s): reaching it is a failure, never what is measured.
    wait_until(
        lambda: content in fresh.get(profile).text, 30, "the new post for anonymous visitors"
    )
