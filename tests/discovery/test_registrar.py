"""The registrar in real app servers (and ``register-db``) against a real etcd of its own.

This module's etcd is replaced by an empty one in one test, so it is not the session's.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.conftest import StartServer
from tests.discovery.servers import AppServer, migrate, start_register_db
from tests.support.etcd import EtcdCluster, wait_until

TTL = 3


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


def wait_for_key(client: EtcdClient, instance: str, value: str | None, timeout: float = 20) -> None:
    key = f"/services/app/{instance}"

    def matches() -> bool:
        kv = client.get(key)
        return (kv.value if kv else None) == value

    wait_until(matches, timeout, f"{key} to be {value!r}")


def test_a_server_registers_only_once_its_readyz_answers_200(
    base_dir: Path, own_etcd: EtcdCluster, client: EtcdClient, start_server: StartServer
) -> None:
    data = base_dir / "unmigrated"
    server = start_server("late", own_etcd.env_endpoints, data_dir=data)
    wait_until(
        lambda: server.log().count("GET /readyz 503") >= 2, 30, "the registrar to find it unready"
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


def test_a_lost_lease_is_replaced_by_a_new_registration(
    steady: AppServer, client: EtcdClient
) -> None:
    before = client.get("/services/app/steady")
    assert before is not None
    client.revoke(before.lease)
    wait_until(
        lambda: (kv := client.get("/services/app/steady")) and kv.lease != before.lease,
        TTL + 5,
        "a registration under a new lease",
    )


def test_the_server_registers_again_when_etcd_comes_back_empty(
    steady: AppServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    own_etcd.replace_with_empty()
    wait_for_key(client, "steady", steady.address, timeout=TTL + 10)


def test_sigterm_withdraws_the_key_while_the_server_still_answers(
    start_server: StartServer, own_etcd: EtcdCluster, client: EtcdClient
) -> None:
    server = start_server("leaving", own_etcd.env_endpoints, DRAIN_SECONDS="3")
    wait_for_key(client, "leaving", server.address)
    server.terminate()
    wait_for_key(client, "leaving", None, timeout=5)
    assert server.answers("/healthz") == 200  # still serving: the drain comes after the revoke
    assert server.wait_exit() == 0
    assert server.log().index("withdrew /services/app/leaving") < server.log().index(
        "Worker exiting"
    )


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
            20,
            "start",
        )
        assert client.get("/skydns/local/sampleapp/db") is None
        with socket.create_server(("127.0.0.1", port)):
            wait_until(lambda: client.get("/skydns/local/sampleapp/db"), 10, "the db record")
            db_kv = client.get("/skydns/local/sampleapp/db")
            alias = client.get("/skydns/local/sampleapp/some-postgres")
            assert db_kv is not None and alias is not None
            assert json.loads(db_kv.value) == {"host": "127.0.0.1", "port": port}
            assert json.loads(alias.value) == {"host": "db.sampleapp.local."}
            assert db_kv.lease == alias.lease != 0
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
            assert client.get("/skydns/local/sampleapp/db") is None
            assert client.get("/skydns/local/sampleapp/some-postgres") is None
    finally:
        if process.poll() is None:
            process.kill()
