"""The nginx template, rendered for 0, 1 and 3 servers and checked by the real ``nginx -t``;
what etcd holds reaches it only through ``keys.parse_registration``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sampleapp.discovery import config
from sampleapp.discovery.keys import Server
from sampleapp.discovery.nginx import Nginx
from sampleapp.discovery.renderer import Renderer, render, servers_from
from sampleapp.errors import ConfigError
from tests.discovery.test_keys import HOSTILE_KEY
from tests.support.nginx import require_nginx

THREE = [Server(f"web-{i}", f"10.0.0.{i}:9292") for i in (1, 2, 3)]
GOOD = {f"/services/app/{s.instance}": s.address for s in THREE}


@pytest.fixture
def settings(tmp_path: Path) -> config.RendererSettings:
    env = {"NGINX_RUNTIME_DIR": str(tmp_path / "run"), "NGINX_BIN": require_nginx()}
    settings = config.renderer_settings(env)
    Renderer(settings).prepare()
    return settings


def nginx_accepts(settings: config.RendererSettings, text: str) -> str:
    path = settings.runtime_dir / "candidate.conf"
    path.write_text(text)
    return Nginx(settings.nginx_bin, settings.runtime_dir).check(path)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_rendered_config_is_accepted_by_nginx(
    settings: config.RendererSettings, count: int
) -> None:
    assert nginx_accepts(settings, render(settings, THREE[:count])) == ""


def test_every_registered_server_is_in_the_upstream_in_instance_order(
    settings: config.RendererSettings,
) -> None:
    text = render(settings, THREE)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("server 10.")]
    assert lines == [
        f"server 10.0.0.{i}:9292 max_fails=1 fail_timeout=5s;  # web-{i}" for i in (1, 2, 3)
    ]
    assert "proxy_pass http://app;" in text
    assert "proxy_next_upstream error timeout;" in text


def test_the_thesis_server_block_is_kept(settings: config.RendererSettings) -> None:
    text = render(dataclasses.replace(settings, listen="80"), THREE[:1])
    for line in (
        "listen 80;",
        "root /usr/src/app/public;",
        "try_files $uri /page_cache/$uri /page_cache/$uri.html @app;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header Host $http_host;",
        "proxy_redirect off;",
    ):
        assert line in text


def test_a_proxy_that_hands_over_shares_its_port_and_nginx_accepts_it(
    settings: config.RendererSettings, tmp_path: Path
) -> None:
    """NGINX_REUSEPORT=1 (the Compose proxy): the next proxy may bind the same port meanwhile."""
    assert "reuseport" not in render(settings, THREE)
    env = {"NGINX_RUNTIME_DIR": str(settings.runtime_dir), "NGINX_REUSEPORT": "1"}
    shared = config.renderer_settings(env)
    text = render(dataclasses.replace(shared, nginx_bin=settings.nginx_bin), THREE)
    assert f"listen {shared.listen} reuseport;" in text
    assert nginx_accepts(settings, text) == ""
    with pytest.raises(ConfigError, match="NGINX_REUSEPORT must be 1 or 0, not 'yes'"):
        config.renderer_settings({**env, "NGINX_REUSEPORT": "yes"})


def test_with_no_server_there_is_no_upstream_and_the_app_location_answers_503(
    settings: config.RendererSettings,
) -> None:
    text = render(settings, [])
    assert "upstream app" not in text
    assert "proxy_pass" not in text
    assert "return 503;" in text
    assert f"alias {settings.runtime_dir}/html/503.html;" in text


def test_registrations_are_validated_before_they_reach_the_config() -> None:
    content = {
        "/services/app/web-2": "10.0.0.2:9292",
        "/services/app/web-1": "10.0.0.1:9292",
        "/services/app/evil": "10.0.0.3:80; include /etc/passwd",
        "/services/app/noport": "10.0.0.4",
        "/services/app/deep/key": "10.0.0.5:9292",
        "/services/app/v6": "[fd00::1]:9292",
        "/services/app/name": "not-a-host:9292",
        HOSTILE_KEY: "10.0.0.6:9292",
    }
    servers, refused = servers_from("/services/app/", content)
    assert servers == [
        Server("v6", "[fd00::1]:9292"),
        Server("web-1", "10.0.0.1:9292"),
        Server("web-2", "10.0.0.2:9292"),
    ]
    refused_keys = [
        "evil",
        "noport",
        "deep/key",
        "name",
        HOSTILE_KEY.removeprefix("/services/app/"),
    ]
    assert {r.key: r.value for r in refused} == {
        f"/services/app/{k}": content[f"/services/app/{k}"] for k in refused_keys
    }
    assert all(repr(r.key) in r.reason for r in refused)


def test_a_hostile_registration_renders_no_directive(settings: config.RendererSettings) -> None:
    servers, _ = servers_from("/services/app/", {HOSTILE_KEY: "10.0.0.6:9292", **GOOD})
    text = render(settings, servers)
    assert "pwned" not in text and "23999" not in text and "upstream y" not in text
    assert [ln.strip() for ln in text.splitlines() if ln.strip().startswith("server {")] == [
        "server {",
        "server {",
    ]  # the public one and the control socket's
    assert nginx_accepts(settings, text) == ""
