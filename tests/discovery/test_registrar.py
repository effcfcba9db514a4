"""The ``web`` role (a supervisor registering its gunicorn child) and ``register-db`` against a real
etcd of their own.

This module's etcd is replaced by an empty one in one test and frozen in another, so it is not
the session's. The only deadlines asserted are promised bounds: the lease TTL (a dead server's key
is gone within it; after etcd expired every lease at once, a server is back within it) and the
renderer's hold-down (a lost lease is replaced within it, whatever the TTL). Every other wait is a
generous poll whose expiry is a failure of its own, never what is tested.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampleapp import healthcheck
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.registrar import Registration, address_towards
from sampleapp.errors import ConfigError
from tests.discovery.conftest import StartServer
from tests.discovery.servers import AppServer, alive, connections_to, migrate, start_register_db
from tests.support.etcd import EtcdCluster, free_port, wait_until

TTL = 3
HOLD_DOWN = 10.0  # RENDER_HOLD_DOWN's default: the renderer keeps the pool while servers come back
PATIENCE = 30.0  # generous polls


@pytest.fixture(scope="module")
def own_etcd(base_dir: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(base_dir, size=1, name="registrar-etcd").start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def client(own_etcd: EtcdCluster) -> Iterator[EtcdClient]:
    with EtcdClient(own_etcd.endpoints) as client:
        yield client


@pytest.fixture(scope="module")
def steady(own_etcd: EtcdCluster, client: EtcdClient, start_server: StartServer) -> AppServer:
    server = start_server("steady", own_etcd.env_endpoints)
    wait_for_key(client, "steady", server.address)
    return server


def wait_for_key(
    client: EtcdClient, instance: str, value: str | None, timeout: float = PATIENCE
) -> None:
    key = f"/services/app/{instance}"

    def matches() -> bool:
        kv = client.get(key)
        return (kv.value if kv else None) == value

    wait_until(matches, timeout, f"{key} to be {value!r}")


def wait_for_new_lease(client: EtcdClient, instance: str, old: int, bound: float) -> None:
    key = f"/services/app/{instance}"
    wait_until(
        lambda: (kv := client.get(key)) is not None and kv.lease != old,
        bound,
        f"{key} registered again under a new lease",
    )


def test_a_server_registers_only_once_its_readyz_answers_200(
    base_dir: Path, own_etcd: EtcdCluster, client: EtcdClient, start_server: StartServer
) -> None:
    data = base_dir / "unmigrated"
    server = start_server("late", own_etcd.env_endpoints, data_dir=data)
    wait_until(
        lambda: server.log().count("GET /readyz 503") >= 2, PATIENCE, "the probe to find it unready"
    )
    assert client.get("/services/app/late") is None
    migrate(data, base_dir / "migrate-late.log")
    wait_for_key(client, "late", server.address)


def test_the_registration_hangs_on_a_lease_of_the_configured_ttl(
    steady: AppServer, client: EtcdClient
) -> None:
    kv = client.get("/services/app/steady")
    assert kv is not None and kv.value == steady.address
    assert kv.lease != 0
    assert 0 < client.time_to_live(kv.lease) <= TTL


def test_no_gunicorn_process_holds_a_connection_to_its_own_server_once_ready(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    """What made a new server's first requests stall is gone: the probe is not in gunicorn.

    When the readiness probe ran in gunicorn's master, the worker forked while the probe's first
    connection was open and kept a copy of its client end; the worker's graceful close then waited
    2 s for itself (the first /healthz after /readyz answered took 2 s, the first proxied request
    1.1-1.5 s more). The probe now runs in the supervisor, a process gunicorn never forks from."""
    server = start_server("fresh", own_etcd.env_endpoints)
    wait_for_key(client, "fresh", server.address)  # /readyz has answered 200
    pids = [server.gunicorn_pid(), *server.worker_pids()]
    assert {pid: connections_to(pid, server.port) for pid in pids} == {pid: [] for pid in pids}
    assert server.answers("/healthz") == 200


def test_the_web_healthcheck_asks_the_app_server_on_the_port_it_is_told(
    steady: AppServer,
) -> None:
    """Run as the image runs it: 0 and what it checked; 1 and why when no server answers; 2 and
    the roles for a role it does not know."""
    assert healthcheck.check("web", {"PORT": str(steady.port)}) == f"web: {steady.url}/readyz 200"

    def run(role: str, port: int) -> tuple[int, str]:
        command = [sys.executable, "-m", "sampleapp.healthcheck", role]
        env = {**os.environ, "PORT": str(port)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        return done.returncode, done.stdout

    assert run("web", steady.port) == (0, f"web: {steady.url}/readyz 200\n")
    code, out = run("web", free_port())
    assert (code, out.split(":")[:2]) == (1, ["unhealthy", " ConnectionRefusedError"]), out
    code, out = run("webb", steady.port)
    assert code == 2 and "register-db" in out, out


def test_a_lost_lease_is_replaced_at_once_whatever_the_ttl(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    # At LEASE_TTL=60 the keepalive runs every 20 s: only watching its own key brings the server
    # back within the renderer's hold-down, the bound this promise exists for.
    server = start_server("long-lease", own_etcd.env_endpoints, LEASE_TTL="60")
    wait_for_key(client, "long-lease", server.address)
    before = client.get("/services/app/long-lease")
    assert before is not None
    client.revoke(before.lease)
    wait_for_new_lease(client, "long-lease", before.lease, HOLD_DOWN)


def test_after_etcd_froze_past_the_ttl_the_server_is_back_within_the_ttl(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    ttl = 5
    server = start_server("thawed", own_etcd.env_endpoints, LEASE_TTL=str(ttl))
    wait_for_key(client, "thawed", server.address)
    before = client.get("/services/app/thawed")
    assert before is not None
    (member,) = own_etcd.members
    assert member.process is not None
    os.kill(member.process.pid, signal.SIGSTOP)
    try:
        time.sleep(ttl + 1)  # the fault itself: etcd frozen longer than any lease lives
    finally:
        os.kill(member.process.pid, signal.SIGCONT)
    # Resumed, etcd expires every lease at once; the server is promised back within its TTL.
    wait_for_new_lease(client, "thawed", before.lease, ttl)


def test_the_server_registers_again_when_etcd_comes_back_empty(
    steady: AppServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    own_etcd.replace_with_empty()
    wait_for_key(client, "steady", steady.address)


def test_sigterm_withdraws_the_key_then_serves_through_the_drain(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    server = start_server("leaving", own_etcd.env_endpoints, DRAIN_SECONDS="600")
    wait_for_key(client, "leaving", server.address)
    server.terminate()
    wait_for_key(client, "leaving", None)
    assert [server.answers("/healthz") for _ in range(5)] == [200] * 5  # draining, still serving
    server.terminate()  # a second SIGTERM ends the drain
    assert server.wait_exit() == 0
    log = server.log()
    order = [
        "withdrew /services/app/leaving",
        "draining",
        "Handling signal: term",
        "Worker exiting",
    ]
    assert [log.find(line) for line in order] == sorted(log.find(line) for line in order)
    assert -1 not in [log.find(line) for line in order], log


def test_kill_9_of_gunicorn_withdraws_the_key_and_the_supervisor_exits_non_zero(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    # A 60 s lease cannot explain the key going within PATIENCE: the supervisor revoked it.
    server = start_server("lost-child", own_etcd.env_endpoints, LEASE_TTL="60")
    wait_for_key(client, "lost-child", server.address)
    workers = server.worker_pids()
    os.kill(server.gunicorn_pid(), signal.SIGKILL)
    wait_for_key(client, "lost-child", None)
    assert server.wait_exit() == 128 + signal.SIGKILL
    assert "gunicorn exited by itself" in server.log()
    wait_until(lambda: not any(map(alive, workers)), PATIENCE, "the orphaned worker to exit")


def test_kill_9_of_the_supervisor_leaves_no_key_past_the_ttl_and_no_gunicorn(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    server = start_server("orphaned", own_etcd.env_endpoints)
    wait_for_key(client, "orphaned", server.address)
    gunicorn = [server.gunicorn_pid(), *server.worker_pids()]
    assert server.process is not None
    server.process.kill()  # the supervisor alone
    server.wait_exit()
    wait_for_key(client, "orphaned", None, timeout=TTL)  # the TTL is the registrar's promise
    wait_until(lambda: not any(map(alive, gunicorn)), PATIENCE, "gunicorn to die with it")


def test_kill_9_leaves_the_key_only_until_the_lease_expires(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    server = start_server("crashing", own_etcd.env_endpoints)
    wait_for_key(client, "crashing", server.address)
    server.kill()
    wait_for_key(client, "crashing", None, timeout=TTL)  # the TTL is the registrar's promise


def test_register_db_publishes_the_thesis_records_while_the_port_answers(
    base_dir: Path, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    db = socket.create_server(("127.0.0.1", 0))
    port = db.getsockname()[1]
    db.close()  # the stand-in database is down at first
    process = start_register_db(
        base_dir / "register-db.log", port, own_etcd.env_endpoints, LEASE_TTL=str(TTL)
    )
    try:
        wait_until(
            lambda: "once the port answers" in (base_dir / "register-db.log").read_text(),
            PATIENCE,
            "start",
        )
        assert client.get("/skydns/local/sampleapp/db") is None
        with socket.create_server(("127.0.0.1", port)):
            wait_until(lambda: client.get("/skydns/local/sampleapp/db"), PATIENCE, "the record")
            db_kv = client.get("/skydns/local/sampleapp/db")
            alias = client.get("/skydns/local/sampleapp/some-postgres")
            assert db_kv is not None and alias is not None
            assert json.loads(db_kv.value) == {"host": "127.0.0.1", "port": port}
            assert json.loads(alias.value) == {"host": "db.sampleapp.local."}
            assert db_kv.lease == alias.lease != 0
            process.send_signal(signal.SIGTERM)
            assert process.wait(PATIENCE) == 0
            assert client.get("/skydns/local/sampleapp/db") is None
            assert client.get("/skydns/local/sampleapp/some-postgres") is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_two_register_dbs_of_one_database_hand_the_records_over_without_a_gap(
    base_dir: Path, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    """A start-first update runs the new register-db beside the old one: the newer holds the
    records, the older leaves them alone (no fight over the lease), takes them back when the
    newer dies, and its own withdrawal deletes nothing the newer holds."""
    key = "/skydns/local/sampleapp/db"
    db = socket.create_server(("127.0.0.1", 0))
    port = db.getsockname()[1]
    logs = [base_dir / f"register-db-{n}.log" for n in ("old", "new", "newer")]
    started: list[subprocess.Popen[bytes]] = []

    def start(log: Path) -> int:
        started.append(start_register_db(log, port, own_etcd.env_endpoints, LEASE_TTL=str(TTL)))
        wait_until(lambda: "registered /skydns" in log.read_text(), PATIENCE, f"{log.name}")
        kv = client.get(key)
        assert kv is not None
        return kv.lease

    def held_by(lease: int) -> bool:
        kv = client.get(key)
        return kv is not None and kv.lease == lease

    try:
        old_lease = start(logs[0])
        new_lease = start(logs[1])
        assert new_lease != old_lease
        wait_until(lambda: "leaving it to it" in logs[0].read_text(), PATIENCE, "the old to cede")
        leases = set()
        for _ in range(3 * TTL * 10):  # three lease TTLs: a fight would flip it each refresh
            kv = client.get(key)
            leases.add(kv.lease if kv else None)
            time.sleep(0.1)
        assert leases == {new_lease}
        started[1].kill()  # the holder dies: its lease expires and the old one takes it back
        wait_until(lambda: held_by(old_lease), TTL + HOLD_DOWN, "the old one to take it back")
        newer_lease = start(logs[2])
        wait_until(
            lambda: "leaving it to it" in logs[0].read_text().rpartition("taking it back")[2],
            PATIENCE,
            "the old to cede again",
        )
        started[0].send_signal(signal.SIGTERM)
        missing = 0
        while started[0].poll() is None:
            missing += client.get(key) is None
        assert started[0].wait(PATIENCE) == 0
        assert missing == 0 and held_by(newer_lease)
        assert "changed behind our back" not in "".join(log.read_text() for log in logs)
    finally:
        db.close()
        for process in started:  # withdrawn, so that no record outlives the test
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(PATIENCE)


def test_register_db_waits_for_a_database_name_that_does_not_resolve_yet(
    base_dir: Path, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    """In a Swarm the engine's DNS may learn the database's task late: register-db says so and
    waits, instead of exiting (which a rolling update counts as a failed task)."""
    log = base_dir / "register-db-unresolved.log"
    process = start_register_db(log, 5432, own_etcd.env_endpoints, host="db.invalid")
    try:
        wait_until(lambda: "does not resolve yet" in log.read_text(), PATIENCE, "the warning")
        assert process.poll() is None, log.read_text()
        assert client.get("/skydns/local/sampleapp/db") is None
        process.send_signal(signal.SIGTERM)
        process.wait(PATIENCE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_new_values_are_written_at_once_under_the_same_lease(client: EtcdClient) -> None:
    """What register-db does when the database's task comes back at another address."""
    key = "/skydns/local/sampleapp/moved"
    registration = Registration(client, {key: '{"host": "10.0.0.1"}'}, TTL, lambda: True)
    runner = threading.Thread(target=registration.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: client.get(key) is not None, PATIENCE, "the registration")
        before = client.get(key)
        registration.update({key: '{"host": "10.0.0.2"}'})
        after = client.get(key)
        assert before is not None and after is not None
        assert (after.value, after.lease) == ('{"host": "10.0.0.2"}', before.lease)
    finally:
        registration.withdraw()
        runner.join(PATIENCE)
    assert client.get(key) is None


def test_the_advertised_address_is_found_through_any_etcd_member_that_resolves() -> None:
    """In a Swarm a member that is down is not in the engine's DNS: the next one serves."""
    assert address_towards(["http://etcd-1.invalid:2379", "http://127.0.0.1:2379"]) == "127.0.0.1"
    with pytest.raises(ConfigError, match=r"etcd-1.invalid: .*etcd-2.invalid: .*ADVERTISE_ADDR"):
        address_towards(["http://etcd-1.invalid:2379", "http://etcd-2.invalid:2379"])
