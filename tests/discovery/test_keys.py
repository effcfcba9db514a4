"""The key schema: the thesis's paths, built and read back in one place."""

from __future__ import annotations

import json

import pytest

from sampleapp.discovery import keys
from sampleapp.errors import ConfigError, DiscoveryError


def test_service_key_is_the_thesis_path_and_reads_back_to_its_instance() -> None:
    key = keys.service_key("/services/app/", "web-1")
    assert key == "/services/app/web-1"
    assert keys.instance_of("/services/app", key) == "web-1"


@pytest.mark.parametrize("instance", ["", "a/b", "tab\there", "evil\n}", "web 1", "-x"])
def test_service_key_refuses_instance_ids_the_renderer_would_refuse(instance: str) -> None:
    with pytest.raises(ConfigError, match="instance id"):
        keys.service_key("/services/app/", instance)


@pytest.mark.parametrize("key", ["/services/app/", "/services/app/a/b", "/other/web-1"])
def test_instance_of_rejects_keys_that_are_not_one_registration(key: str) -> None:
    with pytest.raises(ConfigError, match="not a registration key"):
        keys.instance_of("/services/app/", key)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("db.sampleapp.local.", "/skydns/local/sampleapp/db"),
        ("some-postgres.sampleapp.local", "/skydns/local/sampleapp/some-postgres"),
        ("X1.Web.sampleapp.local.", "/skydns/local/sampleapp/web/x1"),
    ],
)
def test_dns_names_map_to_reversed_label_paths_and_back(name: str, key: str) -> None:
    assert keys.dns_key("/skydns", name) == key
    assert keys.dns_name("/skydns/", key) == name.lower().rstrip(".") + "."


@pytest.mark.parametrize("name", ["", ".", "a..b.local"])
def test_dns_key_rejects_malformed_names(name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid DNS name"):
        keys.dns_key("/skydns", name)


def test_dns_record_value_is_the_json_the_thesis_wrote_with_etcdctl() -> None:
    assert json.loads(keys.dns_record_value("10.0.0.5", 5432)) == {"host": "10.0.0.5", "port": 5432}
    assert json.loads(keys.dns_record_value("db.sampleapp.local.")) == {
        "host": "db.sampleapp.local."
    }


def test_parse_dns_record_reads_host_port_ttl_and_tells_ip_from_name() -> None:
    record = keys.parse_dns_record("/k", '{"host": "10.0.0.5", "port": "5432", "ttl": 60}')
    assert (record.host, record.port, record.ttl, str(record.ip)) == (
        "10.0.0.5",
        5432,
        60,
        "10.0.0.5",
    )
    assert keys.parse_dns_record("/k", '{"host": "db.sampleapp.local."}').ip is None


@pytest.mark.parametrize("value", ["not json", "[]", '{"port": 1}', '{"host": "a", "ttl": "x"}'])
def test_parse_dns_record_names_the_key_and_the_expected_shape(value: str) -> None:
    with pytest.raises(DiscoveryError, match=r"/skydns/local/sampleapp/db holds .*`etcdctl put"):
        keys.parse_dns_record("/skydns/local/sampleapp/db", value)


HOSTILE_KEY = (
    "/services/app/zz-evil\n}\nserver { listen 127.0.0.1:23999; return 200 pwned; }\n"
    "upstream y {\nserver 127.0.0.1:23101;"
)


@pytest.mark.parametrize(
    ("key", "value", "instance", "address"),
    [
        ("/services/app/web-1", "10.0.0.1:9292", "web-1", "10.0.0.1:9292"),
        ("/services/app/v6", "[FD00:0::1]:9292", "v6", "[fd00::1]:9292"),
        ("/services/app/web_2.x", " 10.0.0.2:9292\n", "web_2.x", "10.0.0.2:9292"),
        # A swarm task (core-03-<25-char task id>) and a Compose container (its 64-hex id).
        ("/services/app/core-03-x4b8kq1d2nm0z9a7c6f5e3h1j", "10.0.1.3:9292", None, None),
        ("/services/app/" + "ab12" * 16, "172.18.0.4:9292", None, None),
        ("/services/app/" + "a" * 128, "10.0.0.1:65535", None, None),
    ],
)
def test_a_registration_is_an_instance_name_and_an_ip_literal_with_a_port(
    key: str, value: str, instance: str | None, address: str | None
) -> None:
    server = keys.parse_registration("/services/app/", key, value)
    assert server.instance == (instance or key.rpartition("/")[2])
    assert server.address == (address or value)


@pytest.mark.parametrize(
    "key",
    [
        HOSTILE_KEY,
        "/services/app/web 1",
        "/services/app/web;1",
        "/services/app/web#1",
        "/services/app/-web",
        "/services/app/.",
        "/services/app/" + "a" * 129,
        "/services/app/wéb",
        "/services/app/a/b",
    ],
)
def test_a_registration_key_outside_the_instance_charset_is_refused(key: str) -> None:
    with pytest.raises(DiscoveryError, match=r"refused .*INSTANCE_ID"):
        keys.parse_registration("/services/app/", key, "10.0.0.1:9292")


@pytest.mark.parametrize(
    "value",
    [
        "not-a-host:9292",  # a name: nginx -t would fail the whole pool when it does not resolve
        "localhost:9292",
        "10.0.0.1",
        "10.0.0.1:0",
        "10.0.0.1:65536",
        "10.0.0.1:09292",
        "10.0.0.256:9292",
        "010.0.0.1:9292",
        "fd00::1:9292",  # IPv6 must be bracketed
        "[fd00::1%eth0]:9292",
        "[10.0.0.1]:9292",
        "0.0.0.0:9292",
        "[::]:9292",
        "224.0.0.1:9292",
        "10.0.0.1:9292; include /etc/passwd",
        "10.0.0.1:9292 backup",
        "10.0.0.1:9292\nserver 10.0.0.9:80",
        "",
    ],
)
def test_a_registration_value_that_is_not_ip_and_port_is_refused(value: str) -> None:
    with pytest.raises(
        DiscoveryError, match=r"is not an IP address and port like .*ADVERTISE_ADDR"
    ):
        keys.parse_registration("/services/app/", "/services/app/web-1", value)
