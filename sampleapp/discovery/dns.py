"""The SkyDNS role: an authoritative DNS server (UDP and TCP) for ``sampleapp.local.`` on etcd.

Records come from SkyDNS/CoreDNS-etcd keys (``/skydns/local/sampleapp/db`` = ``{"host": "10.0.0.5",
"port": 5432}``) into memory through a watch, so answers never wait on etcd. An IP host gives
A/AAAA; a name host gives a CNAME followed inside the zone, so the answer carries the A record too
(as the thesis's ``dig some-postgres.sampleapp.local`` showed); a port gives SRV. A name also has
the records stored beneath it (``.../db/x1``), as in CoreDNS. TTL: the record's, else DNS_TTL (30).
Unknown names: NXDOMAIN with the zone's SOA. Outside names: REFUSED, or passed to DNS_FORWARD when
set (containers using this as their only resolver). Before etcd was read once: SERVFAIL, never a
cacheable NXDOMAIN.

Header flags are set, never copied from the query (dnslib's ``reply()`` copies them all): AD is
always clear, since nothing here validates DNSSEC (for forwarded answers too, as dnsmasq does
unless told to proxy it); CD is copied, as RFC 4035 3.1.6 requires of every name server; RD is
echoed (RFC 1035); TC, Z and the query's RCODE bits are cleared.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

from dnslib import AAAA, CNAME, NS, QTYPE, RCODE, RR, SOA, SRV, A, DNSHeader, DNSLabel, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.watch import PrefixMirror
from sampleapp.errors import DiscoveryError, SampleappError

log = logging.getLogger(__name__)

_MAX_CHAIN = 8


class ZoneResolver:
    """Answers queries for one zone from an in-memory copy of its etcd records."""

    def __init__(self, settings: config.DnsSettings) -> None:
        self.settings = settings
        self.zone = keys.normalize_name(settings.domain)
        self.synced = threading.Event()
        self._records: dict[str, list[keys.DnsRecord]] = {}
        self._serial = 1

    def on_change(self, content: Mapping[str, str]) -> None:
        records: dict[str, list[keys.DnsRecord]] = {}
        for key, value in content.items():
            try:
                name = keys.dns_name(self.settings.skydns_prefix, key)
                records.setdefault(name, []).append(keys.parse_dns_record(key, value))
            except SampleappError as exc:
                log.warning("skipping a record: %s", exc)
        self._records = records  # one assignment: readers see the old or the new map, whole
        self._serial += 1
        self.synced.set()
        log.info("serving %d name(s) in %s", len(records), self.zone)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        if qname != self.zone and not qname.endswith("." + self.zone):
            return self._outside(request, handler)
        if not self.synced.is_set():
            return _reply(request, aa=True, rcode=RCODE.SERVFAIL)
        reply = _reply(request, aa=True)
        try:
            known = self._answer(reply, request.q.qname, qtype, 0)
        except Exception:  # a bad record must cost one answer, never the server thread
            log.exception("answering %s %s failed", qname, qtype)
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        if not reply.rr:
            reply.add_auth(self._soa())
        return reply

    def lookup(self, name: str) -> list[tuple[str, keys.DnsRecord]]:
        """(owner, record) of ``name`` (lower-case) itself and of every name below it."""
        if name == self.zone:
            return []
        return [
            (owner, record)
            for owner, found in self._records.items()
            if owner == name or owner.endswith("." + name)
            for record in found
        ]

    def _answer(self, reply: DNSRecord, qname: DNSLabel, qtype: str, depth: int) -> bool:
        """Add the answers for ``qname``; False when the name does not exist."""
        name = str(qname).lower()
        if name == self.zone:
            if qtype in {"SOA", "ANY"}:
                reply.add_answer(self._soa())
            if qtype in {"NS", "ANY"}:
                ns = NS(f"ns.dns.{self.zone}")
                reply.add_answer(RR(qname, QTYPE.NS, rdata=ns, ttl=self.settings.ttl))
            return True
        found = self.lookup(name)
        if not found:
            return False
        if len(found) == 1 and found[0][1].ip is None and qtype != "SRV":
            record = found[0][1]
            target = keys.fqdn(record.host)
            reply.add_answer(RR(qname, QTYPE.CNAME, rdata=CNAME(target), ttl=self._ttl(record)))
            in_zone = target == self.zone or target.endswith("." + self.zone)
            if qtype != "CNAME" and in_zone and depth < _MAX_CHAIN:
                self._answer(reply, DNSLabel(target), qtype, depth + 1)
            return True
        for owner, record in found:
            if qtype == "SRV" and record.port is not None:
                target = keys.fqdn(record.host if record.ip is None else owner)
                srv = SRV(record.priority, record.weight, record.port, target)
                reply.add_answer(RR(qname, QTYPE.SRV, rdata=srv, ttl=self._ttl(record)))
                self._add_address(reply, target, record)
            elif record.ip is not None and qtype in {record.type, "ANY"}:
                reply.add_answer(self._address(qname, record))
        return True

    def _add_address(self, reply: DNSRecord, target: str, record: keys.DnsRecord) -> None:
        """Glue for an SRV target: its A/AAAA records in the additional section."""
        candidates = [(target, record)] if record.ip is not None else self.lookup(target)
        for _, rec in candidates:
            if rec.ip is not None:
                reply.add_ar(self._address(target, rec))

    def _address(self, owner: str | DNSLabel, record: keys.DnsRecord) -> RR:
        """The A or AAAA record of ``owner`` for a record whose host is an IP."""
        rdata = (A if record.type == "A" else AAAA)(record.host)
        return RR(owner, getattr(QTYPE, record.type), rdata=rdata, ttl=self._ttl(record))

    def _outside(self, request: DNSRecord, handler: Any) -> DNSRecord:
        for host, port in self.settings.forward:
            try:
                tcp = getattr(handler, "protocol", "udp") == "tcp"
                raw = request.send(host, port, tcp=tcp, timeout=2.0, ipv6=":" in host)
                forwarded = DNSRecord.parse(raw)
                forwarded.header.ad = 0  # not validated here, so not claimed
                return forwarded
            except OSError as exc:
                log.warning("forwarding %s to %s:%d failed: %s", request.q.qname, host, port, exc)
        rcode = RCODE.SERVFAIL if self.settings.forward else RCODE.REFUSED
        return _reply(request, aa=False, rcode=rcode)

    def _soa(self) -> RR:
        ttl = self.settings.ttl
        times = (self._serial, 3600, 600, 86400, ttl)
        soa = SOA(f"ns.dns.{self.zone}", f"hostmaster.{self.zone}", times)
        return RR(self.zone, QTYPE.SOA, rdata=soa, ttl=ttl)

    def _ttl(self, record: keys.DnsRecord) -> int:
        return self.settings.ttl if record.ttl is None else record.ttl


def _reply(request: DNSRecord, *, aa: bool, rcode: int = RCODE.NOERROR) -> DNSRecord:
    """An empty reply to ``request`` whose header claims only what this server does."""
    h = request.header  # ad, tc and z stay 0
    header = DNSHeader(id=h.id, qr=1, opcode=h.opcode, aa=aa, rd=h.rd, ra=0, cd=h.cd, rcode=rcode)
    return DNSRecord(header, q=request.q)


class _Handler(DNSHandler):  # type: ignore[misc]
    udplen = 512  # classic DNS over UDP: longer answers are truncated and retried over TCP


def main(overrides: Mapping[str, str | None] | None = None) -> None:
    """``sampleapp dns``: the zone resolver behind one UDP and one TCP listener, fed by a watch on
    etcd, until SIGTERM."""
    env = config.environ(overrides)
    s = config.dns_settings(env)
    resolver = ZoneResolver(s)
    config.configure_logging(env)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    client = EtcdClient(s.etcd.endpoints, timeout=s.etcd.timeout)
    zone_path = keys.dns_key(s.skydns_prefix, resolver.zone) + "/"
    PrefixMirror(client, zone_path, resolver.on_change).start(stop)
    logger = DNSLogger(log="error", prefix=False, logf=log.warning)
    servers: list[Any] = []
    try:
        for tcp in (False, True):
            server = DNSServer(resolver, s.host, s.port, tcp, logger, _Handler)
            server.start_thread()
            servers.append(server)
        log.info("DNS for %s on %s:%d (UDP and TCP)", resolver.zone, s.host, s.port)
        stop.wait()
    except OSError as exc:
        raise DiscoveryError(
            f"cannot listen on {s.host}:{s.port} for DNS ({exc.strerror}): free the port or "
            "set DNS_LISTEN (port 53 needs root or CAP_NET_BIND_SERVICE)"
        ) from exc
    finally:
        stop.set()
        for server in servers:
            server.stop()
            server.server.server_close()
