"""The etcd v3 gateway client against a real etcd: keys, leases, watch, failover, errors."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampleapp.discovery.etcd import EtcdClient, Event, prefix_range_end
from sampleapp.discovery.watch import PrefixMirror
from sampleapp.errors import DiscoveryError
from tests.support.etcd import EtcdCluster, free_port, wait_until


@pytest.fixture
def prefix() -> str:
    return f"/test/{uuid.uuid4().hex[:8]}/"


def test_prefix_range_end_covers_exactly_the_keys_under_the_prefix() -> None:
    assert prefix_range_end("/services/app/") == b"/services/app0"
    assert prefix_range_end("/skydns/local/sampleapp") == b"/skydns/local/sampleapq"


def test_put_get_and_delete_round_trip_unicode_keys_and_values(
    etcd_client: EtcdClient, prefix: str
) -> None:
    etcd_client.put(prefix + "web-ñ", "10.0.0.1:9292")
    etcd_client.put(prefix + "web-2", "10.0.0.2:9292")
    etcd_client.put(prefix[:-1] + "-sibling", "outside")
    kvs, revision = etcd_client.get_prefix(prefix)
    assert [(kv.key, kv.value) for kv in kvs] == [
        (prefix + "web-2", "10.0.0.2:9292"),
        (prefix + "web-ñ", "10.0.0.1:9292"),
    ]
    assert revision >= max(kv.mod_revision for kv in kvs)
    assert etcd_client.delete(prefix + "web-2") == 1
    assert etcd_client.get(prefix + "web-2") is None
    assert etcd_client.delete_prefix(prefix) == 1


def test_a_key_under_a_lease_lives_while_kept_alive_and_goes_when_revoked(
    etcd_client: EtcdClient, prefix: str
) -> None:
    lease = etcd_client.grant(5)
    etcd_client.put(prefix + "web-1", "x", lease=lease)
    kv = etcd_client.get(prefix + "web-1")
    assert kv is not None and kv.lease == lease
    assert etcd_client.keepalive(lease) == 5
    assert etcd_client.revoke(lease) is True
    assert etcd_client.get(prefix + "web-1") is None
    assert etcd_client.keepalive(lease) == 0
    assert etcd_client.revoke(lease) is False


def test_put_all_writes_every_key_at_one_revision_under_the_lease(
    etcd_client: EtcdClient, prefix: str
) -> None:
    """register-db's name and alias: one transaction, so no reader sees one without the other."""
    lease = etcd_client.grant(5)
    revision = etcd_client.put_all({prefix + "db": "a", prefix + "alias": "b"}, lease=lease)
    kvs, _ = etcd_client.get_prefix(prefix)
    assert [(kv.key, kv.value, kv.mod_revision, kv.lease) for kv in kvs] == [
        (prefix + "alias", "b", revision, lease),
        (prefix + "db", "a", revision, lease),
    ]
    assert etcd_client.revoke(lease) is True
    assert etcd_client.get_prefix(prefix)[0] == []


def test_a_key_under_an_expired_lease_disappears_by_itself(
    etcd_client: EtcdClient, prefix: str
) -> None:
    lease = etcd_client.grant(2)
    etcd_client.put(prefix + "web-1", "x", lease=lease)
    wait_until(lambda: etcd_client.get(prefix + "web-1") is None, 2 + 3, "the lease to expire")
    assert etcd_client.time_to_live(lease) == -1


def test_watch_reports_puts_and_deletes_in_order(etcd_client: EtcdClient, prefix: str) -> None:
    _, revision = etcd_client.get_prefix(prefix)
    etcd_client.put(prefix + "a", "1")
    etcd_client.put(prefix + "b", "2")
    etcd_client.delete(prefix + "a")
    events: list[Event] = []
    for batch in etcd_client.watch(prefix, revision + 1, idle=1.0):
        events.extend(batch.events)
        if len(events) >= 3:
            break
    assert [(e.kind, e.key, e.value) for e in events] == [
        ("put", prefix + "a", "1"),
        ("put", prefix + "b", "2"),
        ("delete", prefix + "a", ""),
    ]


def test_a_watch_from_compacted_history_says_so(
    etcd: EtcdCluster, etcd_client: EtcdClient, prefix: str
) -> None:
    _, first = etcd_client.get_prefix(prefix)
    etcd_client.put(prefix + "a", "1")
    revision = etcd_client.put(prefix + "a", "2")
    etcd.etcdctl("compaction", str(revision))
    batches = iter(etcd_client.watch(prefix, first + 1, idle=1.0))
    assert next(batches).compacted


def test_the_client_fails_over_to_the_next_endpoint(etcd: EtcdCluster, prefix: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with EtcdClient([dead, *etcd.endpoints], timeout=1.0) as client:
        client.put(prefix + "k", "v")
        kv = client.get(prefix + "k")
        assert kv is not None and kv.value == "v"
        assert client.endpoints[client._preferred] == etcd.endpoints[0]


def test_no_reachable_endpoint_is_a_discovery_error_naming_the_fix() -> None:
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with EtcdClient(dead, timeout=0.5) as client, pytest.raises(DiscoveryError) as info:
        client.get("/services/app/")
    message = str(info.value)
    assert dead[0] in message and dead[1] in message
    assert "ETCD_ENDPOINTS" in message and "etcd-server" in message


@pytest.fixture
def lonely_etcd(base_dir: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(base_dir, size=1, name=f"lonely-{uuid.uuid4().hex[:6]}").start()
    yield cluster
    cluster.stop()


def test_the_mirror_follows_changes_and_re_reads_after_etcd_is_replaced(
    lonely_etcd: EtcdCluster,
) -> None:
    seen: list[dict[str, str]] = []
    stop = threading.Event()
    with EtcdClient(lonely_etcd.endpoints, timeout=1.0) as client:
        client.put("/services/app/old", "10.0.0.1:9292")
        mirror = PrefixMirror(client, "/services/app/", seen.append, idle=2.0)
        mirror.start(stop)
        try:
            wait_until(
                lambda: seen and seen[-1] == {"/services/app/old": "10.0.0.1:9292"},
                10,
                "the first read",
            )
            client.put("/services/app/new", "10.0.0.2:9292")
            wait_until(lambda: "/services/app/new" in seen[-1], 10, "the watch to report a put")
            lonely_etcd.replace_with_empty()  # revisions start over: only a full re-read is right
            client.put("/services/app/after", "10.0.0.3:9292")
            wait_until(
                lambda: seen[-1] == {"/services/app/after": "10.0.0.3:9292"},
                20,
                "the mirror to converge on the new etcd's content",
            )
            assert mirror.full_reads >= 2
        finally:
            stop.set()
