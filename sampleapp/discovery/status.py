"""What the thesis read with three etcdctl commands, as data and as one table each.

``etcdctl ls /services/app`` (registered app servers, here with each lease's remaining TTL),
``etcdctl get /skydns/...`` (DNS records, shown as the records the DNS server will answer) and
``etcdctl cluster-health`` (each member asked for its own status, so a dead one shows as such).
``collect`` reads them into plain data (what ``sampleapp status --json`` prints, and what the
host's ``sampleapp status`` reads from inside a stack or cluster); ``render`` makes the tables.
It only reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.errors import DiscoveryError, SampleappError

Report = dict[str, Any]
# A server the proxy has failed to connect to for this long is reported (a few probes in a row).
UNREACHABLE_GRACE = 12.0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def servers(client: EtcdClient, prefix: str) -> list[dict[str, Any]]:
    kvs, _ = client.get_prefix(prefix)
    return [
        {
            "instance": kv.key.removeprefix(prefix),
            "address": kv.value,
            "lease_ttl": client.time_to_live(kv.lease) if kv.lease else None,
        }
        for kv in kvs
    ]


def records(client: EtcdClient, settings: config.DnsSettings) -> list[dict[str, Any]]:
    kvs, _ = client.get_prefix(keys.dns_key(settings.skydns_prefix, settings.domain) + "/")
    rows: list[dict[str, Any]] = []
    for kv in kvs:
        try:
            name = keys.dns_name(settings.skydns_prefix, kv.key)
            record = keys.parse_dns_record(kv.key, kv.value)
        except SampleappError as exc:
            rows.append({"name": kv.key, "type": "INVALID", "target": str(exc).split(",")[0]})
            continue
        target = record.host + (f" port {record.port}" if record.port is not None else "")
        ttl = record.ttl if record.ttl is not None else settings.ttl
        rows.append({"name": name, "type": record.type, "target": target, "ttl": ttl})
    return rows


def members(client: EtcdClient) -> list[dict[str, Any]]:
    return [{"name": name, **asdict(client.status(url))} for name, url in client.members()]


def collect(overrides: Mapping[str, str | None] | None = None) -> Report:
    """Servers, DNS records and members, read from the etcd that ETCD_ENDPOINTS names."""
    env = config.environ(overrides)
    dns = config.dns_settings(env)
    prefix = config.registrar_settings(env).prefix
    with EtcdClient(dns.etcd.endpoints, timeout=dns.etcd.timeout) as client:
        return {
            "prefix": prefix,
            "zone": keys.dns_key(dns.skydns_prefix, dns.domain) + "/",
            "servers": servers(client, prefix),
            "records": records(client, dns),
            "members": members(client),
            "proxy": proxy_view(env),
        }


def proxy_view(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The pool and the unreachable servers of the renderer that runs here (its status.json),
    or None where none runs (a web or dns container, a person's shell)."""
    path = config.renderer_settings(env).runtime_dir / "status.json"
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DiscoveryError(
            f"{path} is not the renderer's JSON ({exc}): is a renderer running?"
        ) from exc
    return {"servers": found["servers"], "unreachable": found.get("unreachable", [])}


def problems(report: Report) -> list[str]:
    """What is unhealthy in the report, one sentence each."""
    found = [
        f"etcd member {m['name']} ({m['endpoint']}) is unhealthy: {m['error']}"
        for m in report["members"]
        if not m["healthy"]
    ]
    found += [
        f"the DNS record {r['name']} is invalid"
        for r in report["records"]
        if r["type"] == "INVALID"
    ]
    for u in (report.get("proxy") or {}).get("unreachable", []):
        lasting = time.time() - u["since"]
        if lasting >= UNREACHABLE_GRACE:
            found.append(
                f"the proxy cannot connect to {u['server']} for {lasting:.0f} s ({u['error']})"
            )
    return found


def render(report: Report) -> str:
    """The three tables (etcdctl ls, the DNS records, cluster-health) and the proxy's pool."""
    members = report["members"]
    sections: list[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = [
        (
            f"App servers under {report['prefix']} ({len(report['servers'])})",
            ("INSTANCE", "ADDRESS", "LEASE TTL"),
            [(s["instance"], s["address"], _lease(s["lease_ttl"])) for s in report["servers"]],
        ),
        (
            f"DNS records under {report['zone']} ({len(report['records'])})",
            ("NAME", "TYPE", "TARGET", "TTL"),
            [(r["name"], r["type"], r["target"], r.get("ttl", "")) for r in report["records"]],
        ),
        (
            f"etcd members ({sum(m['healthy'] for m in members)} of {len(members)} healthy)",
            ("NAME", "ENDPOINT", "HEALTH", "LEADER", "VERSION", "RAFT INDEX"),
            [
                (
                    m["name"],
                    m["endpoint"],
                    "healthy" if m["healthy"] else f"UNHEALTHY: {m['error']}",
                    "yes" if m["leader"] else "",
                    m["version"],
                    m["raft_index"],
                )
                for m in members
            ],
        ),
    ]
    if (proxy := report.get("proxy")) is not None:
        down = {u["server"]: u for u in proxy["unreachable"]}
        rows = [(*server.split("=", 1), _reach(down.get(server))) for server in proxy["servers"]]
        head = f"The proxy's pool ({len(rows)}), each server probed from the proxy"
        sections.append((head, ("INSTANCE", "ADDRESS", "REACH"), rows))
    return "\n\n".join(
        head + ("\n" + table(headers, rows) if rows else "\n  none")
        for head, headers, rows in sections
    )


def _lease(ttl: int | None) -> str:
    return "none (never expires)" if ttl is None else f"{ttl} s"


def _reach(unreachable: dict[str, Any] | None) -> str:
    if unreachable is None:
        return "connects"
    return f"CANNOT CONNECT for {time.time() - unreachable['since']:.0f} s: {unreachable['error']}"
