"""The renderer's own behaviours: the 503 page, one reload per burst, a rejected template.

Each test runs its own renderer and nginx on its own key prefix, pointing registrations at one
real app server, so nothing here disturbs the load-balancing fleet.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest

from sampleapp import healthcheck
from sampleapp.discovery import config
from sampleapp.discovery import status as discovery_status
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.ops import tls
from sampleapp.ops.settings import Settings
from tests.discovery.conftest import StartRenderer, StartServer
from tests.discovery.servers import AppServer
from tests.support.etcd import EtcdCluster, free_port, wait_until


@pytest.fixture(scope="module")
def backend(etcd: EtcdCluster, start_server: StartServer) -> AppServer:
    """A real app server that registers elsewhere (its own prefix), used as a target below."""
    server = start_server("backend", etcd.env_endpoints, SERVICES_PREFIX="/services/backend/")
    wait_until(lambda: server.answers("/readyz") == 200, 60, "the backend to be ready")
    return server


def prefix() -> str:
    return f"/services/test-{uuid.uuid4().hex[:8]}/"


def test_with_no_server_registered_nginx_answers_503_with_a_page_that_says_so(
    etcd: EtcdCluster, start_renderer: StartRenderer
) -> None:
    renderer = start_renderer("empty", etcd.env_endpoints, prefix())
    response = httpx.get(renderer.url + "/users/1", timeout=5, trust_env=False)
    assert response.status_code == 503
    assert "Sample App is unavailable right now" in response.text
    assert response.headers["Retry-After"] == "5"
    assert "X-Served-By" not in response.headers


def test_after_sigterm_the_proxy_serves_until_the_drain_ends_and_a_second_signal_ends_it(
    etcd: EtcdCluster, start_renderer: StartRenderer
) -> None:
    """A proxy being replaced keeps answering for DRAIN_SECONDS after SIGTERM, while Swarm's DNS
    and the cluster's edge forget it (renderer.main says why); a second signal ends the drain.
    The drain here is long, so nothing depends on how quickly the machine runs."""
    renderer = start_renderer("draining", etcd.env_endpoints, prefix(), DRAIN_SECONDS="300")
    assert renderer.process is not None
    renderer.process.send_signal(signal.SIGTERM)
    wait_until(
        lambda: "SIGTERM: serving 300.0 s more" in renderer.log(), 30, "the drain's log line"
    )
    for _ in range(5):  # still nginx's answers, on fresh connections
        response = httpx.get(renderer.url + "/", timeout=5, trust_env=False)
        assert response.status_code == 503 and "unavailable" in response.text
    assert renderer.process.poll() is None
    renderer.process.send_signal(signal.SIGTERM)
    assert renderer.process.wait(30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(renderer.url + "/", timeout=5, trust_env=False)


def test_a_burst_of_registrations_gives_one_reload(
    etcd: EtcdCluster, etcd_client: EtcdClient, start_renderer: StartRenderer, backend: AppServer
) -> None:
    """One reload per quiet spell, whatever the pace of the writes.

    The renderer is frozen while the burst is written, so the eight changes reach it together,
    however slowly a busy machine writes them; they then arrive within microseconds of each
    other, far inside the one-second debounce: one quiet spell, one reload.
    """
    burst = prefix()
    renderer = start_renderer("burst", etcd.env_endpoints, burst, RENDER_DEBOUNCE="1")
    assert renderer.process is not None
    before = renderer.status()["reloads"]
    lease = etcd_client.grant(60)
    renderer.process.send_signal(signal.SIGSTOP)
    try:
        for i in range(8):
            etcd_client.put(f"{burst}burst-{i}", backend.address, lease=lease)
    finally:
        renderer.process.send_signal(signal.SIGCONT)
    status = renderer.wait_for_servers(8)
    assert status["reloads"] == before + 1
    assert "burst-7" in renderer.config()
    served = {
        httpx.get(renderer.url + "/healthz", trust_env=False).headers["X-Served-By"]
        for _ in range(4)
    }
    assert served == {"backend"}


def test_a_template_that_nginx_rejects_leaves_the_last_good_config_serving(
    base_dir: Path,
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backend: AppServer,
) -> None:
    template = base_dir / "templates" / "nginx.conf.j2"
    template.parent.mkdir(exist_ok=True)
    shutil.copyfile(config.NGINX_DIR / "nginx.conf.j2", template)
    keys = prefix()
    renderer = start_renderer("rejecting", etcd.env_endpoints, keys, NGINX_TEMPLATE=str(template))
    lease = etcd_client.grant(30)
    etcd_client.put(keys + "good", backend.address, lease=lease)
    renderer.wait_for_servers(1)
    good_config, pid = renderer.config(), renderer.nginx_pid

    template.write_text(
        template.read_text().replace("sendfile on;", "sendfile on;\n    bogus_directive on;")
    )
    etcd_client.put(keys + "second", backend.address, lease=lease)
    status = renderer.wait_for_status(lambda s: s["rejected"] == 1, "the rejection")
    assert "unknown directive" in status["last_error"] and "bogus_directive" in status["last_error"]
    assert "bogus_directive" in renderer.log()
    assert renderer.config() == good_config
    assert status["servers"] == [f"good={backend.address}"]
    response = httpx.get(renderer.url + "/healthz", timeout=5, trust_env=False)
    assert response.status_code == 200 and response.headers["X-Served-By"] == "backend"

    template.write_text(template.read_text().replace("{% if servers %}", "{% if servers %"))
    etcd_client.put(keys + "third", backend.address, lease=lease)
    status = renderer.wait_for_status(lambda s: s["rejected"] == 2, "a Jinja error")
    assert "template" in status["last_error"] and renderer.config() == good_config

    shutil.copyfile(config.NGINX_DIR / "nginx.conf.j2", template)
    assert renderer.process is not None
    renderer.process.send_signal(signal.SIGHUP)  # "template fixed": no etcd change needed
    status = renderer.wait_for_servers(3)
    assert status["last_error"] == "" and "third" in renderer.config()
    assert renderer.nginx_pid == pid


def test_the_healthcheck_asks_this_proxys_own_nginx_on_its_control_socket(
    etcd: EtcdCluster, start_renderer: StartRenderer, tmp_path: Path
) -> None:
    """Not the public port, which a proxy handing over shares with its successor."""
    renderer = start_renderer("health", etcd.env_endpoints, prefix())
    socket = renderer.runtime_dir / "control.sock"
    assert healthcheck.check("proxy", renderer.env) == f"proxy: nginx answered 200 on {socket}"
    with pytest.raises(FileNotFoundError):
        healthcheck.check("proxy", {**renderer.env, "NGINX_RUNTIME_DIR": str(tmp_path)})


def raw_request(port: int, data: bytes) -> bytes:
    """What nginx on ``port`` sends back for ``data`` (all of it, until it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_behind_the_edge_nginx_takes_the_clients_address_from_the_proxy_protocol_header(
    base_dir: Path,
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backend: AppServer,
) -> None:
    """NGINX_PROXY_PROTOCOL=1 (the cluster's proxy, behind the edge): the address the edge names
    is the client's in the log and in X-Forwarded-For; a connection without the header is cut."""
    watched = prefix()
    renderer = start_renderer("relayed", etcd.env_endpoints, watched, NGINX_PROXY_PROTOCOL="1")
    etcd_client.put(f"{watched}backend", backend.address, lease=etcd_client.grant(60))
    renderer.wait_for_servers(1)
    request = b"GET /healthz HTTP/1.0\r\nHost: relayed\r\n\r\n"
    relayed = raw_request(renderer.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 40123 80\r\n" + request)
    assert relayed.startswith(b"HTTP/1.1 200"), relayed[:200]
    assert b"X-Served-By: backend" in relayed
    access_log = base_dir / "access-relayed.log"
    wait_until(
        lambda: "203.0.113.7 " in access_log.read_text(), 10, "the relayed request's log line"
    )
    assert raw_request(renderer.port, request) == b""


def test_a_pooled_server_the_proxy_cannot_connect_to_is_listed_and_named_by_status(
    etcd: EtcdCluster, etcd_client: EtcdClient, start_renderer: StartRenderer, backend: AppServer
) -> None:
    """The renderer probes its pool; `sampleapp status` in its container reads what it found.

    A port nothing listens on stands for a server the proxy cannot reach (the test's traffic
    stays on loopback); once something listens there, it is off the list again.
    """
    pool = prefix()
    renderer = start_renderer("probe", etcd.env_endpoints, pool, RENDER_PROBE_INTERVAL="0.2")
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # free once closed, and nothing listens on it
    lease = etcd_client.grant(60)
    etcd_client.put(f"{pool}live", backend.address, lease=lease)
    etcd_client.put(f"{pool}lost", f"127.0.0.1:{port}", lease=lease)
    renderer.wait_for_servers(2)
    wait_until(lambda: renderer.status()["unreachable"], 30, "the probe to find the lost one")
    [lost] = renderer.status()["unreachable"]
    assert lost["server"] == f"lost=127.0.0.1:{port}"
    assert "refused" in lost["error"].lower()
    env = {
        "ETCD_ENDPOINTS": etcd.env_endpoints,
        "SERVICES_PREFIX": pool,
        "NGINX_RUNTIME_DIR": str(renderer.runtime_dir),
    }
    report = discovery_status.collect(env)
    assert report["proxy"]["servers"] == [f"live={backend.address}", f"lost=127.0.0.1:{port}"]
    assert discovery_status.problems(report) == []  # not yet past the grace
    for u in report["proxy"]["unreachable"]:
        u["since"] -= discovery_status.UNREACHABLE_GRACE
    [problem] = discovery_status.problems(report)
    assert problem.startswith(f"the proxy cannot connect to lost=127.0.0.1:{port} for 1")
    text = discovery_status.render(report)
    assert re.search(rf"^  live +{backend.address} +connects$", text, re.MULTILINE), text
    assert re.search(rf"^  lost +127.0.0.1:{port} +CANNOT CONNECT for 1\d s: ", text, re.M), text
    with socket.create_server(("127.0.0.1", port)):
        wait_until(lambda: not renderer.status()["unreachable"], 30, "the lost one to answer")
    etcd_client.revoke(lease)


def test_with_a_certificate_nginx_serves_https_with_hsts_and_http_only_redirects(
    base_dir: Path,
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backend: AppServer,
) -> None:
    """NGINX_TLS_* (the deployments' proxy): TLS ends in nginx, the app hears X-Forwarded-Proto
    https, and plain HTTP answers every path with a redirect to SITE_URL, reaching no server."""
    secrets_dir = base_dir / "tls"
    made = Settings(MappingProxyType({"SAMPLEAPP_SECRETS_DIR": str(secrets_dir)}))
    certificate, _ = tls.ensure(made, "https://127.0.0.1")
    tls_port = free_port()
    site_url = f"https://127.0.0.1:{tls_port}"
    watched = prefix()
    renderer = start_renderer(
        "tls",
        etcd.env_endpoints,
        watched,
        NGINX_TLS_LISTEN=f"127.0.0.1:{tls_port}",
        NGINX_TLS_CERT=str(certificate.cert),
        NGINX_TLS_KEY=str(certificate.key),
        SITE_URL=site_url,
    )
    etcd_client.put(f"{watched}backend", backend.address, lease=etcd_client.grant(60))
    renderer.wait_for_servers(1)
    plain = httpx.get(renderer.url + "/users?page=2", timeout=5, trust_env=False)
    assert (plain.status_code, plain.headers["Location"]) == (301, f"{site_url}/users?page=2")
    assert "X-Served-By" not in plain.headers
    verified = tls.verifying(certificate)
    secure = httpx.get(site_url + "/healthz", timeout=5, trust_env=False, verify=verified)
    assert secure.status_code == 200
    assert secure.headers["X-Served-By"] == "backend"
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(site_url + "/healthz", timeout=5, trust_env=False)  # not a public authority


def test_password_form_posts_past_the_burst_are_refused_by_nginx_alone(
    etcd: EtcdCluster, etcd_client: EtcdClient, start_renderer: StartRenderer, backend: AppServer
) -> None:
    """Each address may POST to /sessions, /users and /password_resets 2 a second after a
    burst of 10: the rest get nginx's 429 without reaching a server; other requests pass."""
    watched = prefix()
    renderer = start_renderer("limited", etcd.env_endpoints, watched)
    etcd_client.put(f"{watched}backend", backend.address, lease=etcd_client.grant(60))
    renderer.wait_for_servers(1)
    forms = ["/sessions", "/users", "/password_resets"] * 10
    with httpx.Client(base_url=renderer.url, timeout=5, trust_env=False) as http:
        started = time.monotonic()
        posts = [http.post(path, data={"x": "1"}) for path in forms]
        elapsed = time.monotonic() - started
        refused = [r for r in posts if r.status_code == 429]
        passed = [r for r in posts if "X-Served-By" in r.headers]
        # One budget for the three forms: the burst, plus what 2 a second added meanwhile.
        assert refused and len(passed) <= 10 + 2 * elapsed + 1, (len(passed), elapsed)
        assert len(refused) + len(passed) == len(forms)
        assert all("X-Served-By" not in r.headers for r in refused)
        assert refused[0].headers["Retry-After"] == "1"
        assert "try again in a second" in refused[0].text
        assert http.get("/sessions").headers["X-Served-By"] == "backend"  # GETs are not limited
        assert http.post("/healthz").headers["X-Served-By"] == "backend"  # nor other routes
