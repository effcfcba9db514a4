"""``sampleapp status``: what the thesis read with three etcdctl commands, in one table.

``etcdctl ls /services/app`` (registered app servers, here with each lease's remaining TTL),
``etcdctl get /skydns/...`` (DNS records, shown as the records the DNS server will answer) and
``etcdctl cluster-health`` (each member asked for its own status, so a dead one shows as such).
It only reads; the exit status is 1 when a member is unhealthy, so scripts can wait on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient, MemberStatus
from sampleapp.errors import SampleappError


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def servers_section(client: EtcdClient, prefix: str) -> str:
    kvs, _ = client.get_prefix(prefix)
    rows = []
    for kv in kvs:
        ttl = client.time_to_live(kv.lease) if kv.lease else -1
        lease = f"{ttl} s" if ttl >= 0 else "none (never expires)"
        rows.append((kv.key.removeprefix(prefix), kv.value, lease))
    head = f"App servers under {prefix} ({len(rows)})"
    return head + ("\n" + table(("INSTANCE", "ADDRESS", "LEASE TTL"), rows) if rows else "\n  none")


def dns_section(client: EtcdClient, settings: config.DnsSettings) -> str:
    zone_path = keys.dns_key(settings.skydns_prefix, settings.domain) + "/"
    kvs, _ = client.get_prefix(zone_path)
    rows: list[tuple[str, ...]] = []
    for kv in kvs:
        try:
            name = keys.dns_name(settings.skydns_prefix, kv.key)
            record = keys.parse_dns_record(kv.key, kv.value)
        except SampleappError as exc:
            rows.append((kv.key, "INVALID", str(exc).split(",")[0], ""))
            continue
        kind = "CNAME" if record.ip is None else "A" if record.ip.version == 4 else "AAAA"
        target = record.host + (f" port {record.port}" if record.port is not None else "")
        rows.append(
            (name, kind, target, str(record.ttl if record.ttl is not None else settings.ttl))
        )
    head = f"DNS records under {zone_path} ({len(rows)})"
    return head + ("\n" + table(("NAME", "TYPE", "TARGET", "TTL"), rows) if rows else "\n  none")


def members_section(client: EtcdClient) -> tuple[str, bool]:
    statuses: list[tuple[str, MemberStatus]] = []
    for member in client.members():
        for url in member.client_urls[:1]:
            statuses.append((member.name, client.status(url)))
    rows = [
        (
            name,
            s.endpoint,
            "healthy" if s.healthy else f"UNHEALTHY: {s.error}",
            "yes" if s.leader else "",
            s.version,
            s.raft_index,
        )
        for name, s in statuses
    ]
    healthy = all(s.healthy for _, s in statuses)
    head = f"etcd members ({sum(s.healthy for _, s in statuses)} of {len(statuses)} healthy)"
    return head + "\n" + table(
        ("NAME", "ENDPOINT", "HEALTH", "LEADER", "VERSION", "RAFT INDEX"), rows
    ), healthy


def main(overrides: Mapping[str, str | None] | None = None) -> int:
    env = config.environ(overrides)
    etcd = config.etcd_settings(env)
    with EtcdClient(etcd.endpoints, timeout=etcd.timeout) as client:
        members, healthy = members_section(client)
        sections = [
            servers_section(client, config.registrar_settings(env).prefix),
            dns_section(client, config.dns_settings(env)),
            members,
        ]
    print("\n\n".join(sections))
    return 0 if healthy else 1
