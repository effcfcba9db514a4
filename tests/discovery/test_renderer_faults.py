"""The renderer under the faults of issue 8: hostile and broken data in etcd, etcd returning with
every lease expired, and the renderer's own death (``kill -9``, as a process and as PID 1).

Each test runs its own renderer and nginx on its own key prefix (or its own etcd), pointing
registrations at two real app servers that register elsewhere, so the traffic checks are real.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sampleapp.discovery import config
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.nginx import Nginx
from sampleapp.discovery.renderer import Renderer, render
from tests.discovery.conftest import StartRenderer, StartServer
from tests.discovery.servers import AppServer, Load
from tests.support.etcd import EtcdCluster, free_port, require_binary, wait_until
from tests.support.nginx import RendererProcess, descendants, require_nginx, running

TTL = 3  # of the leases that etcd expires while frozen


@pytest.fixture(scope="module")
def backends(etcd: EtcdCluster, start_server: StartServer) -> list[AppServer]:
    """Two real app servers that register under their own prefix, used as targets below."""
    servers = [
        start_server(f"target-{x}", etcd.env_endpoints, SERVICES_PREFIX="/services/targets/")
        for x in "ab"
    ]
    wait_until(
        lambda: all(s.answers("/readyz") == 200 for s in servers), 60, "the targets to be ready"
    )
    return servers


@pytest.fixture(scope="module")
def frozen_etcd(base_dir: Path) -> Iterator[EtcdCluster]:
    """An etcd of its own, to be frozen with SIGSTOP without stopping the session's."""
    cluster = EtcdCluster(base_dir, size=1, name="frozen-etcd").start()
    yield cluster
    cluster.stop()


def prefix() -> str:
    return f"/services/test-{uuid.uuid4().hex[:8]}/"


def get(url: str) -> httpx.Response:
    return httpx.get(url + "/healthz", timeout=10, trust_env=False)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def register(client: EtcdClient, pool: dict[str, str], ttl: int = 60) -> int:
    """Put every entry of ``pool`` under one new lease, as servers registering do; its id."""
    lease = client.grant(ttl)
    for key, address in pool.items():
        client.put(key, address, lease=lease)
    return lease


def seen_empty(status: dict[str, Any]) -> bool:
    """The renderer has seen etcd list no server: it holds the pool (or, unfixed, dropped it)."""
    return bool(status.get("holding")) or not status["servers"]


# -- item 3: no etcd data can change nginx's config beyond an upstream entry ----------------------


def test_a_hostile_key_adds_no_server_block_and_the_others_still_serve(
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backends: list[AppServer],
) -> None:
    keys = prefix()
    renderer = start_renderer("hostile", etcd.env_endpoints, keys)
    injected = free_port()
    # The key of the issue: a newline ends the comment the instance name was rendered in.
    hostile = (
        f"{keys}zz-evil\n}}\nserver {{ listen 127.0.0.1:{injected}; return 200 pwned; }}\n"
        f"upstream y {{\nserver {backends[0].address};"
    )
    lease = etcd_client.grant(60)
    etcd_client.put(hostile, backends[0].address, lease=lease)
    etcd_client.put(keys + "good", backends[1].address, lease=lease)
    status = renderer.wait_for_status(
        lambda s: any(entry.startswith("good=") for entry in s["servers"]), "the good server"
    )
    text = renderer.config()
    assert "pwned" not in text and str(injected) not in text and "upstream y" not in text
    assert not listening(injected)
    assert status["servers"] == [f"good={backends[1].address}"]
    assert [r["key"] for r in status["refused"]] == [hostile]
    assert {get(renderer.url).headers["X-Served-By"] for _ in range(4)} == {backends[1].instance}

    # Refused once, logged once: not again on the next render.
    etcd_client.put(keys + "good-2", backends[0].address, lease=lease)
    renderer.wait_for_servers(2)
    assert renderer.log().count(repr(hostile)) == 1
    etcd_client.revoke(lease)


# -- item 4: one bad entry does not freeze the pool -----------------------------------------------


def test_a_name_instead_of_an_ip_is_dropped_and_later_changes_still_reach_nginx(
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backends: list[AppServer],
) -> None:
    keys = prefix()
    renderer = start_renderer("bad-entry", etcd.env_endpoints, keys)
    a, b = backends
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "bad", "not-a-host:9292", lease=lease)
    etcd_client.put(keys + "first", a.address, lease=lease)
    renderer.wait_for_status(lambda s: s["servers"] == [f"first={a.address}"], "first in nginx")
    etcd_client.put(keys + "second", b.address, lease=lease)
    renderer.wait_for_servers(2)
    etcd_client.delete(keys + "first")
    status = renderer.wait_for_status(
        lambda s: s["servers"] == [f"second={b.address}"], "first withdrawn from nginx"
    )
    assert {get(renderer.url).headers["X-Served-By"] for _ in range(4)} == {b.instance}
    assert [(r["key"], r["value"]) for r in status["refused"]] == [
        (keys + "bad", "not-a-host:9292")
    ]
    assert status["rejected"] == 0
    assert renderer.log().count("'not-a-host:9292'") == 1
    etcd_client.revoke(lease)


# -- item 5: etcd coming back does not empty the pool ---------------------------------------------


def test_every_lease_revoked_at_once_under_load_fails_no_request(
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backends: list[AppServer],
) -> None:
    keys = prefix()
    # The hold-down's length is not what is tested: long enough for a busy machine.
    renderer = start_renderer("revoked", etcd.env_endpoints, keys, RENDER_HOLD_DOWN="60")
    pool = {f"{keys}web-{i}": backends[i % 2].address for i in range(3)}
    lease = register(etcd_client, pool)
    renderer.wait_for_servers(3)
    with Load(renderer.url + "/healthz") as load:
        load.wait_for(20)
        etcd_client.revoke(lease)  # every registration gone in one revision
        renderer.wait_for_status(seen_empty, "the renderer to see no server in etcd")
        load.wait_for(50)
        lease = register(etcd_client, pool)  # the servers register again
        renderer.wait_for_status(
            lambda s: len(s["servers"]) == 3 and not s.get("holding"),
            "the pool to be followed again",
        )
        load.wait_for(50)
    assert load.failures == []
    etcd_client.revoke(lease)


def test_etcd_frozen_past_the_lease_ttl_and_resumed_fails_no_request(
    frozen_etcd: EtcdCluster, start_renderer: StartRenderer, backends: list[AppServer]
) -> None:
    """SIGSTOP etcd longer than the TTL: on SIGCONT it expires every lease at once."""
    (member,) = frozen_etcd.members
    assert member.process is not None
    renderer = start_renderer(
        "frozen", frozen_etcd.env_endpoints, "/services/app/", RENDER_HOLD_DOWN="60"
    )
    pool = {f"/services/app/web-{i}": backends[i % 2].address for i in range(3)}
    with EtcdClient(frozen_etcd.endpoints) as client:
        lease = register(client, pool)
        renderer.wait_for_servers(3)
        with Load(renderer.url + "/healthz") as load:
            load.wait_for(20)
            register(client, pool, TTL)  # nobody keeps it alive: it runs out during the freeze
            os.killpg(member.process.pid, signal.SIGSTOP)
            try:
                time.sleep(TTL + 2)  # the fault itself: etcd frozen past the lease TTL
            finally:
                os.killpg(member.process.pid, signal.SIGCONT)
            renderer.wait_for_status(seen_empty, "etcd to expire the leases after the freeze")
            load.wait_for(50)
            lease = register(client, pool)  # the servers register again
            renderer.wait_for_status(
                lambda s: len(s["servers"]) == 3 and not s.get("holding"), "the pool followed again"
            )
            load.wait_for(50)
        client.revoke(lease)
    assert load.failures == []


def test_a_server_registering_during_the_hold_down_is_applied_at_once(
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backends: list[AppServer],
) -> None:
    keys = prefix()
    renderer = start_renderer("hold-new", etcd.env_endpoints, keys, RENDER_HOLD_DOWN="600")
    a, b = backends
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "a", a.address, lease=lease)
    before = renderer.wait_for_servers(1)["reloads"]
    etcd_client.delete(keys + "a")
    status = renderer.wait_for_status(seen_empty, "the renderer to see no server in etcd")
    assert status.get("holding") and status["servers"] == [f"a={a.address}"]
    assert get(renderer.url).headers["X-Served-By"] == a.instance

    etcd_client.put(keys + "b", b.address, lease=lease)
    status = renderer.wait_for_status(lambda s: s["servers"] == [f"b={b.address}"], "b in nginx")
    assert not status.get("holding")
    assert status["reloads"] == before + 1  # from a to b: the empty pool never reached nginx
    assert get(renderer.url).headers["X-Served-By"] == b.instance
    etcd_client.revoke(lease)


def test_an_empty_pool_that_outlasts_the_hold_down_gives_the_503_page(
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    start_renderer: StartRenderer,
    backends: list[AppServer],
) -> None:
    keys = prefix()
    renderer = start_renderer("hold-empty", etcd.env_endpoints, keys, RENDER_HOLD_DOWN="1")
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "a", backends[0].address, lease=lease)
    renderer.wait_for_servers(1)
    etcd_client.revoke(lease)

    def unavailable() -> httpx.Response | None:
        response = get(renderer.url)
        return response if response.status_code == 503 else None

    response = wait_until(unavailable, 30, "the 503 page")
    assert response is not None
    assert "Sample App is unavailable right now" in response.text
    renderer.wait_for_status(
        lambda s: s["servers"] == [] and not s.get("holding"), "the empty pool in the status"
    )


# -- item 6: a renderer restart leaves no orphan --------------------------------------------------


def test_kill_9_of_the_renderer_takes_its_nginx_along_and_a_new_one_binds_the_port(
    base_dir: Path, etcd: EtcdCluster, etcd_client: EtcdClient, backends: list[AppServer]
) -> None:
    keys = prefix()
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "a", backends[0].address, lease=lease)
    first = RendererProcess(base_dir, "killed", etcd.env_endpoints, keys)
    successor = first.successor()
    try:
        first.start().wait_for_servers(1)
        assert first.process is not None
        nginx = [first.nginx_pid, *descendants(first.nginx_pid)]
        first.process.kill()  # kill -9 of the renderer alone, not of its process group
        first.process.wait(10)
        wait_until(
            lambda: not any(running(pid) for pid in nginx), 60, "the killed renderer's nginx to go"
        )
        successor.start().wait_for_servers(1)
        assert successor.nginx_pid not in nginx
        assert get(successor.url).headers["X-Served-By"] == backends[0].instance
    finally:
        first.stop()
        successor.stop()
        etcd_client.revoke(lease)


def test_a_renderer_as_pid_1_killed_from_outside_leaves_nothing_and_a_new_one_binds(
    base_dir: Path, etcd: EtcdCluster, etcd_client: EtcdClient, backends: list[AppServer]
) -> None:
    """PID 1 of its own PID namespace, as in a container, without Docker."""
    unshare = require_binary("unshare", "util-linux")
    as_pid_1 = [unshare, "--pid", "--fork", "--mount-proc", "--kill-child=TERM"]
    keys = prefix()
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "a", backends[0].address, lease=lease)
    first = RendererProcess(base_dir, "pid-1", etcd.env_endpoints, keys)
    first.wrapper = as_pid_1
    successor = first.successor()
    try:
        first.start().wait_for_servers(1)
        assert first.process is not None
        tree = descendants(first.process.pid)  # the renderer, nginx's master and workers
        renderer = next(pid for pid in tree if parent_of(pid) == first.process.pid)
        ns_pids = next(
            line.split()[1:]
            for line in Path(f"/proc/{renderer}/status").read_text().splitlines()
            if line.startswith("NSpid:")
        )
        assert ns_pids[-1] == "1" and len(tree) >= 3
        os.kill(renderer, signal.SIGKILL)  # from outside its namespace
        first.process.wait(30)
        wait_until(lambda: not any(running(pid) for pid in tree), 60, "the namespace to empty")
        assert not listening(first.port)
        successor.start().wait_for_servers(1)
        assert get(successor.url).headers["X-Served-By"] == backends[0].instance
    finally:
        first.stop()
        successor.stop()
        etcd_client.revoke(lease)


def test_an_nginx_left_on_the_runtime_dir_is_stopped_by_the_next_renderer(
    base_dir: Path, etcd: EtcdCluster, etcd_client: EtcdClient, backends: list[AppServer]
) -> None:
    """What a renderer whose death signal never fired leaves: nginx serving a pool on its own."""
    keys = prefix()
    lease = etcd_client.grant(60)
    etcd_client.put(keys + "a", backends[0].address, lease=lease)
    first = RendererProcess(base_dir, "leftover", etcd.env_endpoints, keys)
    successor = first.successor()
    run = first.runtime_dir
    leftover: subprocess.Popen[bytes] | None = None
    try:
        first.start().wait_for_servers(1)
        first.stop()  # its config stays in the runtime directory
        with (base_dir / "nginx-leftover.log").open("ab") as log:
            leftover = subprocess.Popen(
                [require_nginx(), "-e", "stderr", "-p", str(run), "-c", str(run / "nginx.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: listening(first.port), 30, "the leftover nginx to listen")

        successor.start().wait_for_servers(1)
        assert leftover.wait(60) == 0  # stopped gracefully (SIGQUIT), not killed
        assert successor.nginx_pid != leftover.pid
        assert f"stopping nginx {leftover.pid}, left running" in successor.log()
        assert get(successor.url).headers["X-Served-By"] == backends[0].instance
    finally:
        successor.stop()
        if leftover is not None and leftover.poll() is None:
            leftover.kill()
            leftover.wait()
        etcd_client.revoke(lease)


def test_a_pid_file_naming_anything_but_our_nginx_master_is_left_alone(tmp_path: Path) -> None:
    """The PID in a stale nginx.pid may since belong to any program, or to another nginx."""
    ours, other = tmp_path / "ours", tmp_path / "other"
    settings = config.renderer_settings(
        {
            "NGINX_RUNTIME_DIR": str(other),
            "NGINX_BIN": require_nginx(),
            "NGINX_LISTEN": f"127.0.0.1:{free_port()}",
            "NGINX_ACCESS_LOG": "off",
        }
    )
    Renderer(settings).prepare()
    (other / "nginx.conf").write_text(render(settings, []))
    ours.mkdir()
    with (
        subprocess.Popen(["sleep", "600"]) as program,
        subprocess.Popen(
            [settings.nginx_bin, "-e", "stderr", "-p", str(other), "-c", str(other / "nginx.conf")],
            stderr=subprocess.DEVNULL,
        ) as nginx,
    ):
        try:
            wait_until(lambda: (other / "nginx.pid").exists(), 30, "the other nginx to start")
            for pid in (program.pid, nginx.pid, 999_999_999):
                (ours / "nginx.pid").write_text(f"{pid}\n")
                assert Nginx(settings.nginx_bin, ours).stop_leftover() is None
            assert program.poll() is None and nginx.poll() is None
        finally:
            program.kill()
            nginx.send_signal(signal.SIGQUIT)
