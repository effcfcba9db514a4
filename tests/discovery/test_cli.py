"""The discovery subcommands as a person runs them: a readable table, one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from sampleapp import cli
from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.servers import AppServer, children
from tests.support.etcd import EtcdCluster, free_port, wait_until
from tests.support.nginx import SAMPLEAPP


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(
        [SAMPLEAPP, *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def test_status_shows_app_servers_dns_records_and_member_health(
    etcd: EtcdCluster, etcd_client: EtcdClient
) -> None:
    lease = etcd_client.grant(30)
    etcd_client.put("/services/status-test/web-1", "10.0.0.1:9292", lease=lease)
    etcd_client.put("/services/status-test/web-2", "10.0.0.2:9292", lease=lease)
    etcd_client.put("/skydns/local/sampleapp/db", '{"host": "10.0.0.5", "port": 5432}', lease=lease)
    etcd_client.put(
        "/skydns/local/sampleapp/some-postgres", '{"host": "db.sampleapp.local."}', lease=lease
    )
    try:
        result = run(
            "status", ETCD_ENDPOINTS=etcd.env_endpoints, SERVICES_PREFIX="/services/status-test/"
        )
    finally:
        etcd_client.revoke(lease)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["App", "servers", "under", "/services/status-test/", "(2)"] in lines
    assert lines[lines.index(["INSTANCE", "ADDRESS", "LEASE", "TTL"]) + 1][:2] == [
        "web-1",
        "10.0.0.1:9292",
    ]
    assert ["db.sampleapp.local.", "A", "10.0.0.5", "port", "5432", "30"] in lines
    assert ["some-postgres.sampleapp.local.", "CNAME", "db.sampleapp.local.", "30"] in lines
    assert ["etcd", "members", "(1", "of", "1", "healthy)"] in lines
    assert any(line[:3] == ["m0", etcd.endpoints[0], "healthy"] for line in lines)


def test_status_without_etcd_is_one_error_line_naming_the_fix() -> None:
    result = run("status", ETCD_ENDPOINTS=f"http://127.0.0.1:{free_port()}", ETCD_TIMEOUT="0.5")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no etcd endpoint answered")
    assert "ETCD_ENDPOINTS" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_renderer_without_nginx_names_the_package(
    etcd: EtcdCluster, tmp_path: os.PathLike[str]
) -> None:
    result = run(
        "renderer",
        ETCD_ENDPOINTS=etcd.env_endpoints,
        NGINX_BIN="/nonexistent/nginx",
        NGINX_RUNTIME_DIR=str(tmp_path),
        NGINX_LISTEN=f"127.0.0.1:{free_port()}",
        SERVICES_PREFIX="/services/no-nginx/",
    )
    assert result.returncode == 1
    assert "error: nginx was not found at /nonexistent/nginx" in result.stderr
    assert "nginx-light" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "variable"),
    [
        (("register-db",), {"LEASE_TTL": "soon"}, "LEASE_TTL"),
        (("web",), {"ETCD_ENDPOINTS": "http://127.0.0.1:2379", "LEASE_TTL": "0"}, "LEASE_TTL"),
        (("web",), {"ETCD_ENDPOINTS": "http://127.0.0.1:2379", "ADVERTISE_ADDR": "x"}, "ADVERTISE"),
        (("dns", "--listen", "53"), {}, "DNS_LISTEN"),
        (("renderer", "--listen", "x:y"), {}, "NGINX_LISTEN"),
    ],
)
def test_a_bad_setting_stops_the_command_with_the_variable_named(
    args: tuple[str, ...],
    env: dict[str, str],
    variable: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(list(args)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and variable in err and "Traceback" not in err


def test_dns_on_a_taken_port_says_which_variable_moves_it(etcd: EtcdCluster) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run("dns", "--listen", f"127.0.0.1:{port}", ETCD_ENDPOINTS=etcd.env_endpoints)
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port} for DNS" in result.stderr
    assert "DNS_LISTEN" in result.stderr and "Traceback" not in result.stderr


def test_renderer_on_a_taken_port_says_which_variable_moves_it(
    etcd: EtcdCluster, tmp_path: os.PathLike[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(
            "renderer",
            "--listen",
            f"127.0.0.1:{port}",
            ETCD_ENDPOINTS=etcd.env_endpoints,
            NGINX_RUNTIME_DIR=str(tmp_path),
            SERVICES_PREFIX="/services/taken-port/",
        )
    assert result.returncode == 1
    assert "Address already in use" in result.stderr  # nginx's own words, passed through
    assert "error: nginx exited with status 1 at start" in result.stderr
    assert "NGINX_LISTEN" in result.stderr and "Traceback" not in result.stderr


def test_web_without_etcd_endpoints_is_gunicorn_alone_registering_nothing(
    base_dir: Path, app_data: Path
) -> None:
    server = AppServer(base_dir, app_data, "alone", endpoints="").start()
    try:
        wait_until(lambda: server.answers("/healthz") == 200, 60, "`sampleapp web` to serve")
        assert server.process is not None
        # gunicorn's master is the web process itself: its only children are its workers.
        commands = [
            Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children(server.process.pid)
        ]
        assert commands and all(b"\0web\0" in command for command in commands), commands
        assert "will be" not in server.log()  # the supervisor's "<key> will be <address>" line
        server.terminate()
        assert server.wait_exit() == 0
    finally:
        server.stop()
