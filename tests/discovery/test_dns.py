"""The DNS server against the thesis's records, queried like ``dig`` does (UDP, TCP, and dig).

``register-db`` publishes the database (a listening socket stands in for PostgreSQL) exactly as the
thesis's ExecStartPost did; other records are written with the thesis's JSON. A second DNS server,
authoritative for another zone, is the upstream the first one forwards outside names to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from sampleapp import healthcheck
from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.servers import start_register_db
from tests.support.etcd import EtcdCluster, free_port, require_binary, wait_until
from tests.support.nginx import SAMPLEAPP

ZONE = "sampleapp.local."
Query = Callable[..., dns.message.Message]


@dataclass
class DnsProcess:
    port: int
    process: subprocess.Popen[bytes]

    def query(
        self, name: str, rdtype: str, tcp: bool = False, flags: int = 0, timeout: float = 10
    ) -> dns.message.Message:
        """The default ``timeout`` is generous, for a busy machine. A UDP query to a port that
        nothing listens on yet is not refused (dnspython's unconnected socket never sees the
        ICMP error): it waits out the timeout, so a readiness probe passes a short one."""
        message = dns.message.make_query(name, rdtype)
        message.flags |= flags
        send = dns.query.tcp if tcp else dns.query.udp
        return send(message, "127.0.0.1", port=self.port, timeout=timeout)


def start_dns(base_dir: Path, name: str, endpoints: str, **env: str) -> DnsProcess:
    port = free_port()
    full_env = {"PATH": os.environ["PATH"], "ETCD_ENDPOINTS": endpoints, **env}
    with (base_dir / f"dns-{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [SAMPLEAPP, "dns", "--listen", f"127.0.0.1:{port}"],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DnsProcess(port, process)
    zone = env.get("DNS_DOMAIN", ZONE)

    def answers() -> bool:
        if process.poll() is not None:
            log = (base_dir / f"dns-{name}.log").read_text()
            pytest.fail(f"the DNS server for {zone} exited {process.returncode}:\n{log}")
        try:  # a short wait per try: until the server binds, a UDP query just goes unanswered
            return server.query(zone, "SOA", timeout=0.5).rcode() == dns.rcode.NOERROR
        except (OSError, dns.exception.DNSException):
            return False

    try:
        wait_until(answers, 20, f"the DNS server for {zone} (log: {base_dir}/dns-{name}.log)")
    except BaseException:
        stop(process)
        raise
    return server


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def database(base_dir: Path, etcd: EtcdCluster) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A stand-in PostgreSQL port, published by ``sampleapp register-db``."""
    with socket.create_server(("127.0.0.1", 0)) as db:
        port = db.getsockname()[1]
        process = start_register_db(base_dir / "dns-register-db.log", port, etcd.env_endpoints)
        yield port, process
        stop(process)


@pytest.fixture(scope="module")
def records(etcd_client: EtcdClient) -> Iterator[None]:
    etcd_client.put("/skydns/local/sampleapp/cache", '{"host": "fd00::7", "port": 6379, "ttl": 60}')
    etcd_client.put("/skydns/local/sampleapp/web/x1", '{"host": "10.0.0.11", "port": 9292}')
    etcd_client.put("/skydns/local/sampleapp/web/x2", '{"host": "10.0.0.12", "port": 9292}')
    etcd_client.put("/skydns/local/sampleapp/broken", "not json")
    etcd_client.put("/skydns/test/upstream/www", '{"host": "192.0.2.80"}')
    yield
    etcd_client.delete_prefix("/skydns/local/sampleapp/web/")
    for key in ("cache", "broken", "moving"):
        etcd_client.delete(f"/skydns/local/sampleapp/{key}")
    etcd_client.delete_prefix("/skydns/test/")


@pytest.fixture(scope="module")
def upstream(base_dir: Path, etcd: EtcdCluster, records: None) -> Iterator[DnsProcess]:
    server = start_dns(base_dir, "upstream", etcd.env_endpoints, DNS_DOMAIN="upstream.test.")
    yield server
    stop(server.process)


@pytest.fixture(scope="module")
def server(
    base_dir: Path,
    etcd: EtcdCluster,
    etcd_client: EtcdClient,
    records: None,
    database: tuple[int, subprocess.Popen[bytes]],
    upstream: DnsProcess,
) -> Iterator[DnsProcess]:
    server = start_dns(
        base_dir, "zone", etcd.env_endpoints, DNS_FORWARD=f"127.0.0.1:{upstream.port}"
    )
    wait_until(lambda: server.query("db.sampleapp.local.", "A").answer, 20, "register-db's record")
    yield server
    stop(server.process)


def rrsets(message: dns.message.Message) -> list[str]:
    return [line for rrset in message.answer for line in rrset.to_text().splitlines()]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_the_database_has_an_a_record_with_the_default_ttl(
    server: DnsProcess, database: tuple[int, subprocess.Popen[bytes]], tcp: bool
) -> None:
    reply = server.query("db.sampleapp.local.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert rrsets(reply) == ["db.sampleapp.local. 30 IN A 127.0.0.1"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_the_cname_is_followed_to_its_a_record_in_the_same_answer(
    server: DnsProcess, tcp: bool
) -> None:
    reply = server.query("some-postgres.sampleapp.local.", "A", tcp=tcp)
    assert rrsets(reply) == [
        "some-postgres.sampleapp.local. 30 IN CNAME db.sampleapp.local.",
        "db.sampleapp.local. 30 IN A 127.0.0.1",
    ]


def test_a_cname_query_gets_only_the_cname(server: DnsProcess) -> None:
    reply = server.query("some-postgres.sampleapp.local.", "CNAME")
    assert rrsets(reply) == ["some-postgres.sampleapp.local. 30 IN CNAME db.sampleapp.local."]


def test_srv_gives_the_port_and_the_target_with_its_address(
    server: DnsProcess, database: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, _ = database
    reply = server.query("db.sampleapp.local.", "SRV", tcp=True)
    assert rrsets(reply) == [f"db.sampleapp.local. 30 IN SRV 10 100 {port} db.sampleapp.local."]
    assert [r.to_text() for r in reply.additional] == ["db.sampleapp.local. 30 IN A 127.0.0.1"]


def test_an_unknown_name_is_nxdomain_with_the_zone_soa(server: DnsProcess) -> None:
    reply = server.query("nope.sampleapp.local.", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    (soa,) = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == ZONE
    assert soa[0].minimum == 30


def test_a_malformed_record_is_skipped_not_fatal(server: DnsProcess) -> None:
    assert server.query("broken.sampleapp.local.", "A").rcode() == dns.rcode.NXDOMAIN
    assert server.query("db.sampleapp.local.", "A").answer


def test_the_record_ttl_wins_and_an_ipv6_host_gives_aaaa(server: DnsProcess) -> None:
    assert rrsets(server.query("cache.sampleapp.local.", "AAAA")) == [
        "cache.sampleapp.local. 60 IN AAAA fd00::7"
    ]
    nodata = server.query("cache.sampleapp.local.", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority


def test_instances_stored_below_a_name_answer_for_it(server: DnsProcess) -> None:
    assert sorted(rrsets(server.query("web.sampleapp.local.", "A"))) == [
        "web.sampleapp.local. 30 IN A 10.0.0.11",
        "web.sampleapp.local. 30 IN A 10.0.0.12",
    ]
    srv = sorted(rrsets(server.query("web.sampleapp.local.", "SRV")))
    assert srv == [
        "web.sampleapp.local. 30 IN SRV 10 100 9292 x1.web.sampleapp.local.",
        "web.sampleapp.local. 30 IN SRV 10 100 9292 x2.web.sampleapp.local.",
    ]


def test_names_outside_the_zone_are_refused_without_a_forwarder(upstream: DnsProcess) -> None:
    assert upstream.query("db.sampleapp.local.", "A").rcode() == dns.rcode.REFUSED


def test_the_healthcheck_takes_any_answer_of_its_own_server_and_no_answer_as_unhealthy(
    server: DnsProcess, upstream: DnsProcess
) -> None:
    """The dns role's healthcheck asks the zone's SOA of the server in its container, over a bare
    socket: NOERROR from the zone's server, REFUSED from one serving another zone (both answers,
    read from the reply's header), and an error where no server listens."""
    listen = {"DNS_LISTEN": f"0.0.0.0:{server.port}"}
    assert healthcheck.check("dns", listen) == "dns: answered with rcode 0"
    assert healthcheck.dns_rcode("127.0.0.1", upstream.port, ZONE) == dns.rcode.REFUSED
    with pytest.raises(OSError):
        healthcheck.dns_rcode("127.0.0.1", free_port(), ZONE)


def test_names_outside_the_zone_go_to_the_forwarder_when_one_is_set(server: DnsProcess) -> None:
    assert rrsets(server.query("www.upstream.test.", "A")) == [
        "www.upstream.test. 30 IN A 192.0.2.80"
    ]


def test_a_changed_record_is_answered_without_restarting(
    server: DnsProcess, etcd_client: EtcdClient
) -> None:
    etcd_client.put("/skydns/local/sampleapp/moving", '{"host": "10.0.0.1"}')
    wait_until(lambda: rrsets(server.query("moving.sampleapp.local.", "A")), 30, "the new record")
    etcd_client.put("/skydns/local/sampleapp/moving", '{"host": "10.0.0.2"}')
    wait_until(
        lambda: (
            rrsets(server.query("moving.sampleapp.local.", "A"))
            == ["moving.sampleapp.local. 30 IN A 10.0.0.2"]
        ),
        30,
        "the changed record",
    )


def test_dig_sees_the_thesis_answer(server: DnsProcess) -> None:
    dig = require_binary("dig", "dnsutils")
    out = subprocess.run(
        [
            dig,
            "@127.0.0.1",
            "-p",
            str(server.port),
            "some-postgres.sampleapp.local.",
            "A",
            "+noall",
            "+answer",
            "+comments",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    assert "status: NOERROR" in out and " aa" in out
    answer = [line.split() for line in out.splitlines() if line and not line.startswith(";")]
    assert answer == [
        ["some-postgres.sampleapp.local.", "30", "IN", "CNAME", "db.sampleapp.local."],
        ["db.sampleapp.local.", "30", "IN", "A", "127.0.0.1"],
    ]


def test_the_database_records_go_when_register_db_stops(
    server: DnsProcess, database: tuple[int, subprocess.Popen[bytes]]
) -> None:
    _, process = database
    stop(process)
    assert process.returncode == 0
    wait_until(
        lambda: server.query("db.sampleapp.local.", "A").rcode() == dns.rcode.NXDOMAIN,
        30,
        "db.sampleapp.local to be gone",
    )
    assert server.query("some-postgres.sampleapp.local.", "A").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize(
    ("name", "rcode"),
    [
        ("web.sampleapp.local.", dns.rcode.NOERROR),  # an answer
        ("nope.sampleapp.local.", dns.rcode.NXDOMAIN),  # the zone's negative answer
        ("www.upstream.test.", dns.rcode.NOERROR),  # forwarded
    ],
)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_replies_never_claim_dnssec_validation_and_keep_the_checking_disabled_bit(
    server: DnsProcess, name: str, rcode: int, tcp: bool
) -> None:
    """AD is never set (nothing here validates); CD is copied from the query (RFC 4035 3.1.6)."""
    reply = server.query(name, "A", tcp=tcp, flags=dns.flags.AD | dns.flags.CD)
    assert reply.rcode() == rcode
    assert not reply.flags & dns.flags.AD
    assert reply.flags & dns.flags.CD
    assert not server.query(name, "A", tcp=tcp, flags=dns.flags.AD).flags & dns.flags.CD


def test_a_query_outside_the_zone_is_refused_without_a_claimed_validation(
    upstream: DnsProcess,
) -> None:
    reply = upstream.query("web.sampleapp.local.", "A", flags=dns.flags.AD)
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AD
