"""No failure of docker, Compose or etcd reads as an answer: each raises the project's error with
the command, its exit status and the tool's own last line.

The real docker CLI and Compose run against an engine that cannot answer: DOCKER_HOST names a
socket that does not exist, and so do the cluster's node sockets. So no test here talks to this
machine's engine, and none is marked ``docker``. The known meaning of a probe (no engine at all, a
tree outside git) still answers. etcd's streaming errors come from a real HTTP server on loopback
that answers as etcd's gateway does.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sampleapp.discovery.etcd import EtcdClient
from sampleapp.errors import DiscoveryError, StackError
from sampleapp.ops import (
    cluster,
    compose,
    driver,
    engine,
    images,
    nodes,
    stack,
    status,
    swarm,
)
from sampleapp.ops.cluster_stack import SwarmStack
from sampleapp.ops.nodes import Cluster
from sampleapp.ops.settings import load as load_settings

NO_ENGINE = "unix:///nonexistent/docker.sock"
NAME = f"errors-surface-{os.getpid()}"


def cannot_connect(host: str) -> str:
    """The docker CLI's own last line when nothing listens at ``host``."""
    return f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?"


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """DOCKER_HOST on a socket that does not exist; a cluster whose node sockets do not either."""
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("SAMPLEAPP_CLUSTER", NAME)
    monkeypatch.setenv("SAMPLEAPP_PROJECT", NAME)
    monkeypatch.setenv("POSTGRES_USER", "sampleapp")
    found = load_settings().cluster
    assert not any(found.socket(i).exists() for i in (1, 2, 3))
    return found


def node_host(index: int = 1) -> str:
    return f"unix://{load_settings().cluster.socket(index)}"


def on_node(call: Callable[[Cluster], object]) -> Callable[[], object]:
    return lambda: call(load_settings().cluster)


# (what the error names as the command, the call, the engine it fails to reach: None = DOCKER_HOST)
ENGINE_CALLS: list[tuple[str, Callable[[], object], int | None]] = [
    ("docker image inspect", lambda: engine.image_exists(images.APP_IMAGE), None),
    ("docker image inspect", lambda: engine.image_id(images.APP_IMAGE), None),
    ("docker image inspect", lambda: engine.image_labels(images.APP_IMAGE), None),
    ("docker pull python:3.11", lambda: engine.registry_reachable("python:3.11"), None),
    ("docker ps -aq", engine.images_in_use, None),
    ("docker image inspect", images.prune_superseded_images, None),
    ("docker version", cluster.cli_version, None),
    ("docker network inspect", on_node(nodes.network_owner), None),
    ("docker network ls", on_node(nodes.subnet_users), None),
    ("docker ps -aq", lambda: compose.containers(load_settings()), None),
    (
        "docker ps -aq",
        lambda: driver.registered(stack.ComposeStack(load_settings(), reading=True)),
        None,
    ),
    ("docker ps -aq", lambda: status.deployment_report(load_settings(), "compose"), None),
    (
        "docker exec etcd-x etcdctl get --prefix /services/app/",
        lambda: engine.exec_in("etcd-x", ("etcdctl", "get", "--prefix", "/services/app/")),
        None,
    ),
    ("docker ps -aq", on_node(lambda c: driver.registered(SwarmStack(load_settings()))), None),
    ("docker ps -aq", lambda: status.deployment_report(load_settings(), "cluster"), None),
    ("docker service ls on core-01", on_node(lambda c: swarm.services(c, 1)), 1),
    ("docker stack ps on core-01", on_node(lambda c: swarm.tasks(c, 1)), 1),
    ("docker service ps on core-01", on_node(lambda c: swarm.tasks(c, 1, "web")), 1),
    ("docker service inspect on core-01", on_node(lambda c: swarm.service_image(c, 1, "web")), 1),
    ("docker ps -q on core-01", on_node(lambda c: swarm.container_of(c, 1, "etcd-1")), 1),
    (
        "docker exec etcd-x on core-01 etcdctl get --prefix /services/app/",
        lambda: engine.exec_in(
            "etcd-x",
            ("etcdctl", "get", "--prefix", "/services/app/"),
            host=node_host(1),
            where=" on core-01",
        ),
        1,
    ),
]


@pytest.mark.parametrize(
    ("command", "call", "node"),
    ENGINE_CALLS,
    ids=[f"{i}-{c[0]}" for i, c in enumerate(ENGINE_CALLS)],
)
def test_a_docker_call_the_engine_cannot_answer_raises_with_command_exit_and_last_line(
    command: str, call: Callable[[], object], node: int | None
) -> None:
    with pytest.raises(StackError) as raised:
        call()
    message = str(raised.value)
    assert f"{command} failed (exit 1): " in message
    assert cannot_connect(node_host(node) if node else NO_ENGINE) in message


COMPOSE_LAST_LINES = (
    "Error while fetching server API version",  # docker-compose v1
    "Cannot connect to the Docker daemon",  # Compose v2
)


def test_compose_streaming_to_the_terminal_raises_on_failure_with_its_last_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(StackError) as raised:
        compose.compose(load_settings(), "logs", "--tail", "5", capture=False)
    message = str(raised.value)
    assert "compose logs --tail failed (exit 1): " in message
    assert any(line in message for line in COMPOSE_LAST_LINES), message
    # The output went to the terminal as it came, and its end is in the error too.
    shown = capsys.readouterr().out
    assert any(line in shown for line in COMPOSE_LAST_LINES), shown
    assert message.splitlines()[-2].strip() == shown.strip().splitlines()[-1].strip()


def test_sampleapp_logs_raises_when_compose_fails() -> None:
    with pytest.raises(StackError, match=r"compose logs --tail failed \(exit 1\)"):
        stack.ComposeStack(load_settings(), reading=True).logs("web", 5, follow=False)


def test_compose_capturing_raises_with_its_last_lines() -> None:
    with pytest.raises(StackError) as raised:
        compose.compose(load_settings(), "ps")
    assert "compose ps failed (exit 1): " in str(raised.value)
    assert any(line in str(raised.value) for line in COMPOSE_LAST_LINES)


def test_no_engine_at_all_is_the_known_answer_of_the_engine_probes() -> None:
    assert engine.engine_version() is None
    c = load_settings().cluster
    assert nodes.engine_answers(c, 1) is False  # no socket file


def test_a_node_socket_nothing_listens_on_is_an_engine_that_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stopped node leaves its socket file behind (the directory is the host's)."""
    run_dir = Path(tempfile.mkdtemp(prefix="sa-"))  # short: a socket path has 107 bytes
    try:
        monkeypatch.setattr(nodes, "RUN_DIR", run_dir)
        c = load_settings().cluster
        c.socket(1).parent.mkdir()
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(c.socket(1)))
        stale.close()
        assert nodes.engine_answers(c, 1) is False
        with pytest.raises(StackError) as raised:
            swarm.services(c, 1)
        assert "docker service ls on core-01 failed (exit 1): " in str(raised.value)
        assert cannot_connect(f"unix://{c.socket(1)}") in str(raised.value)
    finally:
        shutil.rmtree(run_dir)


def test_a_tree_outside_git_has_an_unknown_revision_but_a_failing_git_raises(
    tmp_path: Path,
) -> None:
    assert images.git_revision(tmp_path) == "unknown"
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(StackError) as raised:
        images.git_revision(not_a_directory)
    assert "git -C " in str(raised.value)
    assert "failed (exit 128): " in str(raised.value)
    assert "Not a directory" in str(raised.value)


def test_a_version_that_cannot_be_read_raises_naming_what_was_read() -> None:
    assert engine.version_tuple("20.10.24+dfsg1\n", "docker version") == (20, 10)
    with pytest.raises(StackError, match=r"docker version printed 'dev-build', expected a version"):
        engine.version_tuple("dev-build\n", "docker version")


class GatewayAnswer(BaseHTTPRequestHandler):
    """Answers every POST with the status and JSON body set on the server."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.answer  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatewayAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_a_keepalive_etcd_refuses_is_an_error_not_a_lease_gone(
    gateway: ThreadingHTTPServer,
) -> None:
    """etcd's gateway reports a streaming call's failure as {"error": {"grpc_code": ...}}."""
    refused = {
        "error": {
            "grpc_code": 8,
            "http_code": 429,
            "message": "etcdserver: too many requests",
            "http_status": "Too Many Requests",
        }
    }
    gateway.answer = (429, refused)  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{gateway.server_address[1]}"
    with EtcdClient([url]) as client:
        with pytest.raises(DiscoveryError, match=r"too many requests \(gRPC code 8\)"):
            client.keepalive(7)
        gateway.answer = (200, {"header": {}})  # type: ignore[attr-defined]
        with pytest.raises(DiscoveryError, match="without a result"):
            client.keepalive(7)
        gateway.answer = (200, {"result": {"header": {}, "ID": "7"}})  # type: ignore[attr-defined]
        assert client.keepalive(7) == 0  # etcd's answer for a lease it no longer has
