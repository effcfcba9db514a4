"""The etcd key schema, in one place: app server registrations and SkyDNS records.

The thesis's keys are kept so that ``etcdctl`` habits still work: ``/services/app/<instance>`` holds
``<host>:<port>`` of one app server, and ``/skydns/local/sampleapp/db`` holds the JSON record of
``db.sampleapp.local`` (labels reversed under the prefix, as SkyDNS and CoreDNS's etcd plugin read
them): ``{"host": "10.0.0.5", "port": 5432, "ttl": 30}``. A host that is an IP gives an A or AAAA
record, a name gives a CNAME. Registrations hang on leases; this module only builds and parses.

It is also the one boundary between etcd's data and nginx's config: ``parse_registration`` is the
only way a registration becomes a ``Server``, and it accepts an instance name of a strict charset
and an IP literal with a port, nothing else. Anyone who can write to etcd can otherwise write
nginx directives (a newline in a key ends the comment it is rendered in), and a host name would
make ``nginx -t`` fail for the whole pool when it does not resolve.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from sampleapp.errors import ConfigError, DiscoveryError

# Where the keys live by default (SERVICES_PREFIX and SKYDNS_PREFIX move them): the thesis's.
SERVICES_PREFIX = "/services/app/"
SKYDNS_PREFIX = "/skydns"

INSTANCE_RULE = "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ADDRESS = re.compile(r"([0-9.]{7,15}|\[[0-9A-Fa-f:.]{2,45}\]):([1-9][0-9]{0,4})")
ADDRESS_RULE = (
    "an IP address and port like 10.0.0.5:9292 or [fd00::5]:9292 (names are not resolved)"
)


@dataclass(frozen=True)
class Server:
    """One app server registration that passed ``parse_registration``: safe to render as is."""

    instance: str
    address: str  # normalized: 10.0.0.5:9292 or [fd00::5]:9292


def service_key(prefix: str, instance_id: str) -> str:
    """``/services/app/web-1`` for instance ``web-1`` under ``prefix``."""
    if not _INSTANCE.fullmatch(instance_id):
        raise ConfigError(f"instance id {instance_id!r} must be {INSTANCE_RULE}: fix INSTANCE_ID")
    return _dir(prefix) + instance_id


def instance_of(prefix: str, key: str) -> str:
    """The instance id of a registration key, the reverse of ``service_key``."""
    head = _dir(prefix)
    if not key.startswith(head) or not _INSTANCE.fullmatch(key.removeprefix(head)):
        raise ConfigError(
            f"{key!r} is not a registration key under {head}: its instance must be {INSTANCE_RULE}"
        )
    return key.removeprefix(head)


def parse_address(value: str) -> str:
    """``10.0.0.5:9292`` or ``[fd00::5]:9292``, normalized; anything else is a ConfigError."""
    match = _ADDRESS.fullmatch(value.strip())
    try:
        if match is None:
            raise ValueError("not IP:port")
        host, port = match.group(1), int(match.group(2))
        ip = ipaddress.ip_address(host.strip("[]"))
        bracketed = host.startswith("[")  # IPv6 only, and always
        if bracketed != (ip.version == 6) or port > 65535 or ip.is_unspecified or ip.is_multicast:
            raise ValueError("not a server's address")
    except ValueError as exc:
        raise ConfigError(f"{value!r} is not {ADDRESS_RULE}") from exc
    return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def parse_registration(prefix: str, key: str, value: str) -> Server:
    """The ``Server`` that ``key`` = ``value`` registers, or a DiscoveryError saying why not."""
    try:
        instance = instance_of(prefix, key)
    except ConfigError as exc:
        raise DiscoveryError(
            f"refused {exc}; the app server that wrote it must set INSTANCE_ID to such a name "
            "(or remove the key with etcdctl del)"
        ) from exc
    try:
        address = parse_address(value)
    except ConfigError as exc:
        raise DiscoveryError(
            f"refused {key!r}: {exc}; the app server that wrote it must set ADVERTISE_ADDR to "
            "one (or remove the key with etcdctl del)"
        ) from exc
    return Server(instance, address)


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

    @property
    def type(self) -> str:
        """A or AAAA for an IP host, CNAME for a name."""
        return "CNAME" if self.ip is None else "A" if self.ip.version == 4 else "AAAA"


def normalize_name(name: str) -> str:
    """Lower-case, fully qualified (trailing dot) form of a DNS name."""
    name = fqdn(name.strip().lower())
    if name == "." or any(not label for label in name[:-1].split(".")):
        raise ConfigError(f"{name!r} is not a valid DNS name")
    return name


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


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


def dns_record_value(host: str, port: int | None = None) -> str:
    """The JSON value of a record, as the thesis wrote it with ``etcdctl set``."""
    return json.dumps({"host": host} if port is None else {"host": host, "port": port})


def parse_dns_record(key: str, value: str) -> DnsRecord:
    """Parse a record's JSON value; malformed values name the key and the expected shape."""
    try:
        data = json.loads(value)
        if not isinstance(data, dict) or not isinstance(data.get("host"), str) or not data["host"]:
            raise ValueError("no host")
        numbers = [_optional_int(data.get(n)) for n in ("port", "ttl", "priority", "weight")]
        port, ttl, priority, weight = numbers
        return DnsRecord(data["host"].lower(), port, ttl, priority or 10, weight or 100)
    except (ValueError, TypeError) as exc:
        raise DiscoveryError(
            f"{key} holds {value!r}, expected JSON like "
            f'{{"host": "10.0.0.5", "port": 5432}}: rewrite it with `etcdctl put {key} ...`'
        ) from exc


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def _dir(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"
