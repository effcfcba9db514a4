"""The one-host stack on a real Docker engine: up, serve, spread, scale, survive, re-migrate, roll.

The tests share one stack (``running_stack``) and run in file order, each leaving it as it found
it apart from data they add. Traffic goes only to the proxy's published port on 127.0.0.1.
``up`` run again is tested as a person runs it, with the build, under a steady load: with nothing
changed it touches no container; after an app-only change it replaces the app servers one by one
and nothing else; with a new infra image the new proxy takes the port over from the old one.
None of them fails a request.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import ssl
from collections import Counter

import httpx
import pytest

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import compose, driver, engine, images, stack, status, tls
from sampleapp.ops.settings import load as load_settings
from sampleapp.progress import Progress
from tests.discovery.servers import Load
from tests.ops.conftest import StackEnv, project_resources
from tests.support import docker as support_docker
from tests.support import site
from tests.support.docker import free_subnet
from tests.support.etcd import free_port, wait_until

pytestmark = pytest.mark.docker
STATIC = re.compile(r'(?:href|src|data-[\w-]+)="(/static/[^"]+)"')  # a page's static files


def registered() -> dict[str, str]:
    return driver.registered(stack.ComposeStack(load_settings(), reading=True))


def get_page(url: str, path: str = "/") -> httpx.Response:
    """A page as an app server renders it now: past the proxy's page cache."""
    return httpx.get(url + path, timeout=10, verify=site.trust(), headers=site.PAST_THE_PAGE_CACHE)


def test_missing_credentials_stop_up_before_anything_is_created(
    docker_engine: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("SAMPLEAPP_PROJECT", "sampleapp-nocreds")
    monkeypatch.setenv("SAMPLEAPP_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("POSTGRES_USER", raising=False)
    before = support_docker.named("sampleapp-nocreds")
    with pytest.raises(PreflightError, match=r"POSTGRES_USER is not set.*deploy/env\.example"):
        stack.up(load_settings(), stack.Options(build=False), Progress())
    monkeypatch.setenv("POSTGRES_USER", "sampleapp")
    with pytest.raises(
        PreflightError, match=r"POSTGRES_PASSWORD is not set: create .*postgres_pass"
    ):
        stack.up(load_settings(), stack.Options(build=False), Progress())
    assert support_docker.named("sampleapp-nocreds") == before


def test_the_home_page_is_served_through_the_proxy(running_stack: StackEnv) -> None:
    response = httpx.get(running_stack.url + "/", timeout=10, verify=site.trust())
    assert response.status_code == 200
    assert "Welcome to the Sample App" in response.text
    assert response.headers["X-Served-By"]


def test_static_files_come_from_the_proxy_and_never_reach_an_app_server(
    running_stack: StackEnv,
) -> None:
    """nginx serves /static/ from the files collected into its image: hashed names, kept a year,
    their .gz copies to a client that asks (httpx does)."""
    with site.client(running_stack.url) as http:
        linked = {url for page in ("/", "/signin") for url in STATIC.findall(http.get(page).text)}
        assert len(linked) >= 3, linked  # the stylesheet, the script, its placeholder picture
        for url in sorted(linked):
            response = http.get(url)
            assert response.status_code == 200, url
            assert "X-Served-By" not in response.headers, f"{url} reached an app server"
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers["Content-Encoding"] == "gzip", url
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_https_is_served_with_hsts_and_plain_http_only_redirects_to_it(
    running_stack: StackEnv,
) -> None:
    plain = httpx.get(f"http://127.0.0.1:{running_stack.port}/users?page=2", timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{running_stack.url}/users?page=2"
    assert "X-Served-By" not in plain.headers  # no app server saw the plain request
    with site.client(running_stack.url) as http:
        signin = http.get("/signin")
        assert signin.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "secure" in signin.headers["Set-Cookie"].lower()  # csrftoken
        site.sign_in(http)
        session = next(c for c in http.cookies.jar if c.name == "sessionid")
        assert session.secure
        # A forged Host is refused by the app (never a reset link to another site).
        forged = http.get("/password_resets/new", headers={"Host": "evil.example"})
        assert forged.status_code == 400


def test_up_made_one_self_signed_certificate_and_printed_its_fingerprint(
    running_stack: StackEnv,
) -> None:
    cert = tls.certificate(load_settings())
    assert cert.cert == running_stack.secrets_dir / "tls_cert.pem" and not cert.given
    assert (
        f"SHA-256 fingerprint {cert.fingerprint}"
        in (running_stack.secrets_dir / "up.log").read_text()
    )
    served = ssl.get_server_certificate(("127.0.0.1", running_stack.tls_port))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.cert.read_text())


def test_the_example_user_signs_in_posts_and_sees_the_post_in_the_feed(
    running_stack: StackEnv,
) -> None:
    site.demo_user_posts_and_sees_it_in_the_feed(running_stack.url, "stack")


def test_twenty_requests_reach_all_three_replicas(running_stack: StackEnv) -> None:
    served = Counter(get_page(running_stack.url).headers["X-Served-By"] for _ in range(20))
    assert len(served) == 3, served
    web_hosts = {c.id for c in compose.containers(load_settings(), "web")}
    assert set(served) == web_hosts


def test_scaling_web_to_four_sends_traffic_to_the_fourth(running_stack: StackEnv) -> None:
    stack.scale(load_settings(), "web", 4, Progress())
    web_hosts = {c.id for c in compose.containers(load_settings(), "web") if c.state == "running"}
    assert len(web_hosts) == 4
    served = Counter(get_page(running_stack.url).headers["X-Served-By"] for _ in range(24))
    assert set(served) == web_hosts, served
    stack.scale(load_settings(), "web", 3, Progress())


def test_killing_a_replica_under_load_fails_no_request(running_stack: StackEnv) -> None:
    victim = compose.containers(load_settings(), "web")[0]
    with support_docker.steady_load(running_stack.url + "/") as load:
        load.wait_for(40)
        engine.docker("kill", victim.id)
        # Gone within the lease TTL (10 s); the generous deadline only bounds a broken run, and
        # `make bench-stack` records how long it took.
        wait_until(lambda: victim.id not in registered(), 120, "the key to go")
        load.wait_for(40)
    assert load.failures == []
    assert load.total >= 80
    said: list[str] = []
    assert (
        status.main(load_settings(), "compose", write=said.append) == 1
    )  # one exit rule: a problem is named
    assert "  - web exited" in said[-1] and "2 app servers registered, 3 wanted" in said[-1]
    stack.scale(load_settings(), "web", 3, Progress())


def test_a_post_survives_down_and_up(running_stack: StackEnv) -> None:
    content = f"Still here after down and up {secrets.token_hex(4)}"
    with site.client(running_stack.url) as http:
        site.sign_in(http)
        site.post_micropost(http, content)
    stack.down(load_settings(), progress=Progress())
    assert project_resources()["containers"] == []
    assert project_resources()["volumes"], "down without --volumes removed the data volume"
    stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())
    with site.client(running_stack.url) as http:
        site.sign_in(http)
        assert content in http.get("/").text


def row_counts() -> dict[str, int]:
    db = compose.containers(load_settings(), "db")[0]
    counts = {}
    for table in ("users", "microposts", "relationships"):
        out = engine.docker(
            "exec",
            db.id,
            "psql",
            "-U",
            "sampleapp",
            "-d",
            "sample_app_production",
            "-tAc",
            f"SELECT count(*) FROM {table}",
        )
        counts[table] = int(out.strip())
    return counts


def test_running_migrate_again_three_at_once_adds_nothing(running_stack: StackEnv) -> None:
    before = row_counts()
    assert before["users"] >= 100
    compose.compose(load_settings(), "up", "-d", "--no-deps", "--scale", "migrate=3", "migrate")
    wait_until(
        lambda: all(c.state == "exited" for c in compose.containers(load_settings(), "migrate")),
        180,
        "migrate",
    )
    assert [c.exit_code for c in compose.containers(load_settings(), "migrate")] == [0, 0, 0]
    assert row_counts() == before
    compose.compose(load_settings(), "up", "-d", "--no-deps", "--scale", "migrate=1", "migrate")
    # `up` starts the one it keeps again: the stack is left as found once that run has ended.
    wait_until(
        lambda: all(c.state == "exited" for c in compose.containers(load_settings(), "migrate")),
        180,
        "migrate",
    )


def test_app_servers_find_the_database_through_the_projects_dns(running_stack: StackEnv) -> None:
    db = compose.containers(load_settings(), "db")[0]
    back = f"{load_settings().project}_back"
    address = f'{{{{(index .NetworkSettings.Networks "{back}").IPAddress}}}}'
    db_ip = engine.docker("inspect", "--format", address, db.id).strip()
    web = compose.containers(load_settings(), "web")[0]
    resolve = "import socket; print(socket.gethostbyname('{}'))"
    for name in ("some-postgres.sampleapp.local", "db.sampleapp.local", "db"):
        out = engine.docker("exec", web.id, "python3", "-c", resolve.format(name))
        assert out.strip() == db_ip, name


def test_status_shows_services_registered_servers_dns_and_members_and_exits_0(
    running_stack: StackEnv,
) -> None:
    said: list[str] = []
    assert status.main(load_settings(), "compose", write=said.append) == 0, said
    text = said[0]
    for service in ("db", "etcd", "dns", "db-dns", "migrate", "web", "edge", "proxy"):
        assert re.search(rf"^  {service} ", text, re.MULTILINE), service
    assert "App servers under /services/app/ (3)" in text
    servers = text.split("App servers under")[1].split("\n\n")[0]
    assert servers.count(":9292 ") == 3, servers
    assert re.search(r"^The proxy's pool \(3\)", text, re.MULTILINE)
    assert text.count("  connects\n") == 3
    assert re.search(r"^  db\.sampleapp\.local\.\s+A\s", text, re.MULTILINE)
    assert "etcd members (1 of 1 healthy)" in text
    assert text.endswith("No problem found.")
    said.clear()
    code = status.main(load_settings(), "compose", as_json=True, write=said.append)
    [report] = json.loads(said[0])["targets"]
    assert (code, report["problems"]) == (0, []), report
    assert report["url"] == running_stack.url
    servers = report["discovery"]["servers"]
    assert {s["instance"] for s in servers} == {
        c.id for c in compose.containers(load_settings(), "web")
    }
    assert all(0 < s["lease_ttl"] <= 10 for s in servers), servers


def containers_by_service() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for c in compose.containers(load_settings()):
        found.setdefault(c.service, set()).add(c.id)
    return found


def failed(load: Load) -> str:
    return f"{len(load.failures)} of {load.total} failed: {Counter(load.failures).most_common(3)}"


def test_up_run_again_with_the_build_changes_nothing_and_fails_no_request(
    running_stack: StackEnv,
) -> None:
    stack.up(load_settings(), stack.Options(replicas=3), Progress())  # the first `up` with a build
    before = containers_by_service()
    certificate = (running_stack.secrets_dir / "tls_cert.pem").read_bytes()
    with support_docker.steady_load(running_stack.url + "/") as load:
        load.wait_for(40)
        stack.up(load_settings(), stack.Options(replicas=3), Progress())
        load.wait_for(40)
    assert load.failures == [], failed(load)
    assert containers_by_service() == before
    assert (running_stack.secrets_dir / "tls_cert.pem").read_bytes() == certificate


def test_an_app_only_change_rolls_the_app_servers_alone_and_fails_no_request(
    running_stack: StackEnv,
) -> None:
    """A new app image with the same infra inputs (what an app-only source change builds: see
    test_images); the image it replaces is put back at the end."""
    stack.up(load_settings(), stack.Options(replicas=3), Progress())
    before = containers_by_service()
    marker = f"<!-- release {secrets.token_hex(4)} -->"
    previous = f"sampleapp-test/previous:{os.getpid()}"
    try:
        # APP_IMAGE names the new version until the finally below: no other test stream pushes
        # it to a cluster or builds on it meanwhile.
        with support_docker.app_image_tag(moving=True):
            engine.docker("tag", images.APP_IMAGE, previous)
            try:
                support_docker.new_app_version(images.APP_IMAGE, footer=marker)
                assert images.infra_image() == images.infra_image(previous)
                with support_docker.steady_load(running_stack.url + "/") as load:
                    load.wait_for(40)
                    stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())
                    load.wait_for(40)
                assert load.failures == [], failed(load)
                after = containers_by_service()
                for service in ("db", "etcd", "dns", "db-dns", "edge", "proxy"):
                    assert after[service] == before[service], f"{service} was replaced"
                assert len(after["web"]) == 3 and after["web"].isdisjoint(before["web"])
                assert after["migrate"] != before["migrate"], "migrate did not run on the new image"
                assert [c.exit_code for c in compose.containers(load_settings(), "migrate")] == [0]
                assert set(registered()) == after["web"]
                pages = [get_page(running_stack.url) for _ in range(12)]
                assert {page.headers["X-Served-By"] for page in pages} == after["web"]
                assert all(marker in page.text for page in pages)
            finally:  # the tree's image again
                engine.docker("tag", previous, images.APP_IMAGE)
                engine.docker("rmi", previous)
    finally:  # the stack goes back to the tree's image, rolled the same way
        stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())


def test_a_new_proxy_takes_over_the_published_port_and_fails_no_request(
    running_stack: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new infra image (what proxy, dns and db-dns run): the new proxy binds the port beside
    the old one in edge's network namespace before the old one stops. edge, which holds the
    port, and the app servers stay."""
    stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())
    before = containers_by_service()
    infra = support_docker.new_app_version(f"sampleapp-test/infra:{os.getpid()}")
    try:
        monkeypatch.setenv("SAMPLEAPP_INFRA_IMAGE", infra)
        with support_docker.steady_load(running_stack.url + "/") as load:
            load.wait_for(40)
            stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())
            load.wait_for(40)
        assert load.failures == [], failed(load)
        after = containers_by_service()
        for service in ("dns", "db-dns", "proxy"):
            assert after[service].isdisjoint(before[service]), f"{service} was not replaced"
        assert len(after["proxy"]) == 1
        for service in ("edge", "web", "db", "etcd"):
            assert after[service] == before[service], f"{service} was replaced"
        assert {c.image for c in compose.containers(load_settings(), "proxy")} == {
            engine.image_id(infra)
        }
    finally:  # back to the infra image `up` chooses, rolled the same way
        monkeypatch.delenv("SAMPLEAPP_INFRA_IMAGE")
        stack.up(load_settings(), stack.Options(replicas=3, build=False), Progress())
        engine.docker("rmi", infra, check=False)


def test_a_service_that_cannot_start_is_named_with_its_log_tail(
    app_image: dict[str, str], stack_env: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etcd run from the app image: the etcd command is not a sampleapp role, so it crash-loops,
    which `up` names as soon as Docker restarted it twice, not at its timeout."""
    monkeypatch.setenv("SAMPLEAPP_PROJECT", f"{stack_env.values['SAMPLEAPP_PROJECT']}-broken")
    monkeypatch.setenv("SAMPLEAPP_PORT", str(free_port()))
    monkeypatch.setenv("SAMPLEAPP_TLS_PORT", str(free_port()))
    subnet, dns_ip = free_subnet()  # not the running test stack's
    monkeypatch.setenv("SAMPLEAPP_FRONT_SUBNET", subnet)
    monkeypatch.setenv("SAMPLEAPP_DNS_IP", dns_ip)
    monkeypatch.setenv("SAMPLEAPP_ETCD_IMAGE", "sampleapp:0.1")
    try:
        with pytest.raises(StackError) as failure:
            stack.up(load_settings(), stack.Options(build=False, timeout=25), Progress())
        message = str(failure.value)
        assert message.startswith("etcd keeps crashing ("), message
        assert "invalid choice: 'etcd'" in message  # the crashing container's own log line
        assert "sampleapp logs etcd" in message
    finally:
        stack.down(load_settings(), volumes=True, progress=Progress())
