"""The etcd key schema, in one place: app server registrations and SkyDNS records.

The thesis's keys are kept so that ``etcdctl`` habits still work: ``/services/app/<instance>`` holds
``<host>:<port>`` of one app server, and ``/skydns/local/sampleapp/db`` holds the JSON record of
``db.sampleapp.local`` (labels reversed under the prefix, as SkyDNS and CoreDNS's etcd plugin read
them): ``{"host": "10.0.0.5", "port": 5432, "ttl": 30}``. A host that is an IP gives an A or AAAA
record, a name gives a CNAME. Registrations hang on leases; this module only builds and parses.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from sampleapp.errors import ConfigError, DiscoveryError


def service_key(prefix: str, instance_id: str) -> str:
    """``/services/app/web-1`` for instance ``web-1`` under ``prefix``."""
    if not instance_id or "/" in instance_id or not instance_id.isprintable():
        raise ConfigError(f"instance id {instance_id!r} must be non-empty and without '/'")
    return _dir(prefix) + instance_id


def instance_of(prefix: str, key: str) -> str:
    """The instance id of a registration key, the reverse of ``service_key``."""
    head = _dir(prefix)
    if not key.startswith(head) or "/" in key[len(head) :] or key == head:
        raise ConfigError(f"{key!r} is not a registration key under {head}")
    return key[len(head) :]


@dataclass(frozen=True)
class DnsRecord:
    """One SkyDNS record: where a name points, and how to advertise it."""

    host: str
    port: int | None = None
    ttl: int | None = None
    priority: int = 10
    weight: int = 100

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def normalize_name(name: str) -> str:
    """Lower-case, fully qualified (trailing dot) form of a DNS name."""
    name = name.strip().lower()
    name = name if name.endswith(".") else name + "."
    if name == "." or any(not label for label in name[:-1].split(".")):
        raise ConfigError(f"{name!r} is not a valid DNS name")
    return name


def dns_key(skydns_prefix: str, name: str) -> str:
    """``db.sampleapp.local.`` -> ``/skydns/local/sampleapp/db`` (labels reversed)."""
    labels = normalize_name(name)[:-1].split(".")
    return skydns_prefix.rstrip("/") + "/" + "/".join(reversed(labels))


def dns_name(skydns_prefix: str, key: str) -> str:
    """``/skydns/local/sampleapp/db`` -> ``db.sampleapp.local.``, the reverse of ``dns_key``."""
    head = skydns_prefix.rstrip("/") + "/"
    if not key.startswith(head) or key == head or "//" in key or key.endswith("/"):
        raise ConfigError(f"{key!r} is not a DNS record key under {head}")
    return ".".join(reversed(key[len(head) :].split("/"))).lower() + "."


def dns_record_value(host: str, port: int | None = None, ttl: int | None = None) -> str:
    """The JSON value of a record, as the thesis wrote it with ``etcdctl set``."""
    record: dict[str, Any] = {"host": host}
    if port is not None:
        record["port"] = port
    if ttl is not None:
        record["ttl"] = ttl
    return json.dumps(record)


def parse_dns_record(key: str, value: str) -> DnsRecord:
    """Parse a record's JSON value; malformed values name the key and the expected shape."""
    try:
        data = json.loads(value)
        if not isinstance(data, dict) or not isinstance(data.get("host"), str) or not data["host"]:
            raise ValueError("no host")
        record = DnsRecord(
            host=data["host"].lower(),
            port=_optional_int(data.get("port")),
            ttl=_optional_int(data.get("ttl")),
            priority=_optional_int(data.get("priority")) or 10,
            weight=_optional_int(data.get("weight")) or 100,
        )
    except (ValueError, TypeError) as exc:
        raise DiscoveryError(
            f"{key} holds {value!r}, expected JSON like "
            f'{{"host": "10.0.0.5", "port": 5432}}: rewrite it with `etcdctl put {key} ...`'
        ) from exc
    return record


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def _dir(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"
