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


@pytest.mark.parametrize("instance", ["", "a/b", "tab\there"])
def test_service_key_refuses_instance_ids_that_would_break_the_path(instance: str) -> None:
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
