"""Settings come from the environment once, and a wrong value names its variable."""

from __future__ import annotations

import pytest

from sampleapp.discovery import config
from sampleapp.errors import ConfigError


def test_defaults_follow_the_thesis_and_the_issue() -> None:
    settings = config.registrar_settings({"INSTANCE_ID": "web-1"})
    assert settings.etcd.endpoints == ("http://127.0.0.1:2379",)
    assert (settings.prefix, settings.instance_id, settings.ttl) == ("/services/app/", "web-1", 10)
    dns = config.dns_settings({})
    assert (dns.domain, dns.ttl, dns.port, dns.skydns_prefix) == (
        "sampleapp.local.",
        30,
        53,
        "/skydns",
    )
    db = config.db_settings({})
    assert (db.name, db.alias, db.port) == ("db", "some-postgres", 5432)


def test_several_etcd_endpoints_are_read_in_order() -> None:
    env = {"ETCD_ENDPOINTS": "http://a:2379, http://b:2379/,http://c:2379"}
    assert config.etcd_settings(env).endpoints == (
        "http://a:2379",
        "http://b:2379",
        "http://c:2379",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ETCD_ENDPOINTS", "etcd:2379"),
        ("LEASE_TTL", "ten"),
        ("LEASE_TTL", "1"),
        ("ADVERTISE_ADDR", "10.0.0.5"),
        ("ADVERTISE_ADDR", "web-1:9292"),  # nginx only ever gets IP:port from etcd
        ("DRAIN_SECONDS", "-1"),
        ("INSTANCE_ID", "a/b"),
    ],
)
def test_a_malformed_registrar_variable_is_named_in_the_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        config.registrar_settings({variable: value})


@pytest.mark.parametrize(
    ("variable", "value"), [("DNS_LISTEN", "53"), ("DNS_FORWARD", "1.1.1.1:x")]
)
def test_a_malformed_dns_variable_is_named_in_the_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        config.dns_settings({variable: value})


TLS = {"NGINX_TLS_CERT": "/run/secrets/tls_cert", "NGINX_TLS_KEY": "/run/secrets/tls_key"}


def test_https_is_on_with_a_certificate_and_redirects_to_the_site() -> None:
    assert config.tls_settings({}) is None
    on = config.tls_settings({**TLS, "SITE_URL": "https://blog.example.com/"})
    assert on is not None and (on.listen, on.redirect) == ("443", "https://blog.example.com")
    moved = config.tls_settings({**TLS, "NGINX_TLS_LISTEN": "127.0.0.1:8443"})
    assert moved is not None and moved.redirect == "https://$host:8443"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"NGINX_TLS_CERT": "/c.pem"}, "NGINX_TLS_KEY is not set"),
        ({**TLS, "NGINX_TLS_LISTEN": "443x"}, "NGINX_TLS_LISTEN is"),
        ({**TLS, "SITE_URL": "http://blog.example.com"}, "expected an https:// origin"),
        # Written into nginx's config: anything but an origin could add directives.
        ({**TLS, "SITE_URL": "https://a.example; return 302 https://evil"}, "SITE_URL is"),
        ({**TLS, "SITE_URL": "https://a.example/path"}, "without a path"),
    ],
)
def test_a_wrong_https_setting_is_named(env: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        config.tls_settings(env)
