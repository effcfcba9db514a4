"""The Compose file follows the project's checked conventions (docs/ARCHITECTURE.md, rule 7)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sampleapp import healthcheck
from sampleapp.ops import swarm
from sampleapp.ops.settings import env_file_values
from sampleapp.ops.settings import load as load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose.yaml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ONE_SHOT = {"migrate"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE)


def image_default(image: str) -> str:
    """``${VAR:-default}`` -> default; a plain reference as it is."""
    found = re.fullmatch(r"\$\{\w+:-([^}]+)\}", image)
    return found.group(1) if found else image


def test_every_long_running_service_has_a_real_healthcheck_with_a_start_period(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        if name in ONE_SHOT:
            assert check == {"disable": True}, f"{name} is one-shot: its state says it all"
            continue
        assert check, f"{name} has no healthcheck"
        assert "start_period" in check, f"{name}'s healthcheck has no start_period"
        test = " ".join(check["test"]) if isinstance(check["test"], list) else check["test"]
        real = (
            r"pg_isready|etcdctl .*endpoint health|python -m sampleapp.healthcheck"
            r"|create_connection|/dev/tcp/127.0.0.1/80"
        )
        assert re.search(real, test), f"{name}'s healthcheck does not test the real thing: {test}"


def test_every_depends_on_uses_the_long_form_with_a_health_or_completion_condition(compose):
    for name, service in compose["services"].items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert isinstance(rule, dict), f"{name} -> {dependency} uses the short form"
            expected = (
                "service_completed_successfully"
                if dependency in ONE_SHOT
                # edge is healthy once the proxy in its namespace listens: the proxy cannot wait.
                else "service_started"
                if (name, dependency) == ("proxy", "edge")
                else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {dependency}: {rule}"


@pytest.mark.parametrize(
    "path", [COMPOSE, REPO / "deploy" / "stack.yaml"], ids=["compose", "stack"]
)
def test_each_app_image_healthcheck_names_the_role_its_service_runs(path):
    """The healthcheck is told its role; nothing reads it back from the container's PID 1."""
    checked = 0
    for name, service in load(path)["services"].items():
        command = service.get("command") or []
        if command and command[0] in healthcheck.ROLES:
            test = service["healthcheck"]["test"]
            assert test == ["CMD", "python", "-m", "sampleapp.healthcheck", command[0]], name
            checked += 1
    assert checked == 4  # web, proxy, dns, register-db
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "sampleapp.healthcheck", "web"]' in dockerfile
    assert 'CMD ["web"]' in dockerfile


@pytest.mark.parametrize(
    "path", [COMPOSE, REPO / "deploy" / "stack.yaml"], ids=["compose", "stack"]
)
def test_the_lease_and_drain_defaults_live_in_the_code_not_in_the_files(path):
    web = load(path)["services"]["web"]["environment"]
    assert web["LEASE_TTL"] == "${SAMPLEAPP_LEASE_TTL:-}"  # empty: config.py's default
    assert "DRAIN_SECONDS" not in web


def test_shared_policy_lives_in_x_anchors():
    text = COMPOSE.read_text()
    anchors = re.findall(r"^(x-[\w-]+): &", text, flags=re.M)
    assert {"x-restart", "x-app"} <= set(anchors), anchors
    assert text.count("<<: ") >= 5


def default_path(spec: str) -> str:
    """A secret's file as the Compose file names it, each ``${VAR:-default}`` at its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", spec)


def test_credentials_come_from_git_ignored_secret_files_through_file_variables(compose):
    secrets = compose["secrets"]
    assert set(secrets) == {"postgres_password", "secret_key", "tls_cert", "tls_key"}
    for secret in secrets.values():
        path = COMPOSE.parent / default_path(secret["file"])
        ignored = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "-q", str(path)], check=False
        )
        assert ignored.returncode == 0, f"{path} is not git-ignored"
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password" in text
    assert "SECRET_KEY_FILE: /run/secrets/secret_key" in text
    assert not re.search(r"POSTGRES_PASSWORD:\s", text), "a password value is written in the file"


def test_only_edge_publishes_a_port_only_on_loopback_and_the_proxy_runs_in_its_namespace(compose):
    """edge holds the port and never changes with a release; proxies come and go inside it."""
    services = compose["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["edge"]
    assert all(str(p).startswith("127.0.0.1:") for p in published["edge"])
    assert services["proxy"]["network_mode"] == "service:edge"
    assert services["proxy"]["environment"]["NGINX_REUSEPORT"] == "1"
    assert services["edge"]["sysctls"] == {"net.ipv4.tcp_migrate_req": 1}
    assert "SAMPLEAPP_INFRA_IMAGE" not in services["edge"]["image"]
    assert "SAMPLEAPP_IMAGE" not in services["edge"]["image"]


def test_two_networks_keep_the_proxy_away_from_the_database(compose):
    def networks(name: str) -> set[str]:
        found = compose["services"][name]["networks"]
        return set(found if isinstance(found, list) else found.keys())

    assert networks("edge").isdisjoint(networks("db"))
    assert {"front", "back"} <= networks("web")
    assert compose["networks"]["back"].get("internal") is True


def test_no_container_names_and_images_pinned_below_latest(compose):
    for name, service in compose["services"].items():
        assert "container_name" not in service, name
        image = image_default(service.get("image", ""))
        assert image, f"{name} has no image"
        tag = image.rpartition(":")[2]
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{name}: {image}"


def test_an_app_release_does_not_touch_the_proxy_or_the_dns(compose):
    """proxy, dns and db-dns run the infra image, which `sampleapp up` sets apart from the app's."""
    for name, service in compose["services"].items():
        image = service["image"]
        if name in ("proxy", "dns", "db-dns"):
            assert image.startswith("${SAMPLEAPP_INFRA_IMAGE:-"), f"{name}: {image}"
        elif name in ("web", "migrate"):
            assert image.startswith("${SAMPLEAPP_IMAGE:-"), f"{name}: {image}"
    infra = image_default(compose["services"]["proxy"]["image"])
    assert infra == image_default(compose["services"]["web"]["image"]), (
        "without sampleapp, `docker compose up` runs one image for every role"
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_github_actions_are_pinned_to_a_sha_with_a_version_comment(workflow):
    uses = re.findall(r"uses:\s*(\S+)(.*)", workflow.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{action}{comment}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_steps_call_make_targets(workflow):
    runs = re.findall(r"^\s*run: (.+)$", workflow.read_text(), flags=re.M)
    assert [r for r in runs if r.startswith("make ")], "no step calls make"


# deploy/stack.yaml (the Swarm cluster) follows the same rules, in Swarm's terms.
STACK = REPO / "deploy" / "stack.yaml"
LONG_RUNNING = {"etcd-1", "etcd-2", "etcd-3", "db", "register-db", "dns", "web", "proxy", "edge"}


@pytest.fixture(scope="module")
def stack_file() -> dict[str, Any]:
    return load(STACK)


def test_the_stack_has_the_thesis_topology(stack_file):
    services = stack_file["services"]
    assert set(services) == LONG_RUNNING | {"migrate"}

    def constraints(name: str) -> list[str]:
        return services[name]["deploy"].get("placement", {}).get("constraints", [])

    assert constraints("db") == ["node.labels.compute == db"]
    assert constraints("proxy") == ["node.labels.compute == proxy"]
    assert constraints("edge") == ["node.labels.compute == proxy"]
    for n in (1, 2, 3):
        assert constraints(f"etcd-{n}") == [f"node.hostname == core-0{n}"]
    assert services["web"]["deploy"]["mode"] == "global"
    assert services["dns"]["deploy"]["mode"] == "global"
    assert services["migrate"]["deploy"]["mode"] == "replicated"
    assert "depends_on" not in str(services), "Swarm ignores depends_on: order is deploy's waits"


def test_the_etcd_members_bootstrap_statically_as_one_cluster(stack_file):
    members = {}
    for n in (1, 2, 3):
        env = stack_file["services"][f"etcd-{n}"]["environment"]
        assert env["ETCD_NAME"] == f"etcd-{n}"
        assert env["ETCD_INITIAL_CLUSTER_STATE"] == "new"
        members[env["ETCD_NAME"]] = env["ETCD_INITIAL_ADVERTISE_PEER_URLS"]
        assert stack_file["services"][f"etcd-{n}"]["volumes"] == [f"etcd-{n}-data:/var/lib/etcd"]
    initial = stack_file["services"]["etcd-1"]["environment"]["ETCD_INITIAL_CLUSTER"]
    assert initial == ",".join(f"{name}={url}" for name, url in members.items())
    endpoints = stack_file["services"]["web"]["environment"]["ETCD_ENDPOINTS"]
    assert endpoints.split(",") == [f"http://etcd-{n}:2379" for n in (1, 2, 3)]


def test_every_long_running_stack_service_has_a_healthcheck_and_a_restart_policy(stack_file):
    for name, service in stack_file["services"].items():
        check = service["healthcheck"]
        if name not in LONG_RUNNING:
            assert check == {"disable": True}, f"{name} is a job: its state says it all"
            assert service["deploy"]["restart_policy"]["condition"] == "on-failure"
            continue
        assert "start_period" in check, f"{name}'s healthcheck has no start_period"
        test = " ".join(check["test"])
        real = (
            r"pg_isready|etcdctl .*endpoint health|python -m sampleapp.healthcheck"
            r"|create_connection|/dev/tcp/127.0.0.1/80"
        )
        assert re.search(real, test), f"{name}'s healthcheck does not test the real thing: {test}"
        assert service["deploy"]["restart_policy"]["condition"] == "any", name


def test_app_services_update_one_at_a_time_and_roll_back_on_failure(stack_file):
    for name in ("web", "dns", "register-db", "proxy"):
        update = stack_file["services"][name]["deploy"]["update_config"]
        assert update["parallelism"] == 1 and update["failure_action"] == "rollback", name
    # A new app server or proxy is healthy before the old one stops; the edge holds the port
    # alone, so its (rare) updates are stop-first.
    for name in ("web", "proxy"):
        assert stack_file["services"][name]["deploy"]["update_config"]["order"] == "start-first"
    assert stack_file["services"]["edge"]["deploy"]["update_config"]["order"] == "stop-first"


def test_the_edge_holds_the_port_with_a_config_named_by_its_content(stack_file):
    """A Swarm config cannot change under its name, so an edit of edge.conf must rename it;
    the edge runs a pinned public image, never the app's or the proxy's."""
    digest = hashlib.sha256((STACK.parent / "nginx" / "edge.conf").read_bytes()).hexdigest()
    config = stack_file["configs"]["edge_conf"]
    assert config["name"] == f"sampleapp-edge-{digest[:8]}", "edge.conf changed: rename it"
    assert config["file"] == "${SAMPLEAPP_NGINX_CONF_DIR:-./nginx}/edge.conf"
    edge = stack_file["services"]["edge"]
    assert edge["image"] == "${SAMPLEAPP_NGINX_IMAGE:-nginx:1.27-bookworm}"
    assert edge["configs"] == [{"source": "edge_conf", "target": "/etc/nginx/edge.conf"}]
    assert stack_file["services"]["proxy"]["environment"]["NGINX_PROXY_PROTOCOL"] == "1"


def test_stack_policy_lives_in_x_anchors():
    text = STACK.read_text()
    anchors = re.findall(r"^(x-[\w-]+): &", text, flags=re.M)
    assert {"x-restart", "x-update", "x-app", "x-etcd"} <= set(anchors), anchors
    assert text.count("<<: ") >= 10


def test_stack_credentials_are_swarm_secrets_from_git_ignored_files(stack_file):
    assert set(stack_file["secrets"]) == {"postgres_password", "secret_key", "tls_cert", "tls_key"}
    for secret in stack_file["secrets"].values():
        path = STACK.parent / default_path(secret["file"])
        ignored = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "-q", str(path)], check=False
        )
        assert ignored.returncode == 0, f"{path} is not git-ignored"
    for name in ("web", "migrate"):
        env = stack_file["services"][name]["environment"]
        assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
        assert env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
        assert set(stack_file["services"][name]["secrets"]) == {"postgres_password", "secret_key"}
    proxy = stack_file["services"]["proxy"]
    assert set(proxy["secrets"]) == {"tls_cert", "tls_key"}
    assert proxy["environment"]["NGINX_TLS_CERT"] == "/run/secrets/tls_cert"
    # A Swarm secret cannot change under its name: the certificate's carries its content's id.
    assert {s["name"] for s in stack_file["secrets"].values() if "name" in s} == {
        "sampleapp-tls-cert-${SAMPLEAPP_TLS_ID:-unset}",
        "sampleapp-tls-key-${SAMPLEAPP_TLS_ID:-unset}",
    }
    text = STACK.read_text()
    assert not re.search(r"(POSTGRES_PASSWORD|SECRET_KEY):\s", text), "a secret value in the file"


def test_only_the_edge_publishes_a_client_port_and_etcd_only_its_peer_port(stack_file):
    published = {n: s["ports"] for n, s in stack_file["services"].items() if s.get("ports")}
    assert set(published) == {"edge", "etcd-1", "etcd-2", "etcd-3"}
    assert published["edge"] == [
        {"target": 80, "published": 80, "protocol": "tcp", "mode": "host"},
        {"target": 443, "published": 443, "protocol": "tcp", "mode": "host"},
    ]
    for n in (1, 2, 3):
        assert [(p["target"], p["mode"]) for p in published[f"etcd-{n}"]] == [(2380, "host")]


def test_two_overlay_networks_keep_the_proxy_away_from_the_database(stack_file):
    services = stack_file["services"]
    for name in ("proxy", "edge"):
        assert set(services[name]["networks"]).isdisjoint(services["db"]["networks"])
    assert {"front", "back"} <= set(services["web"]["networks"])
    networks = stack_file["networks"]
    assert all(n["driver"] == "overlay" and n["attachable"] is True for n in networks.values())
    assert networks["back"]["internal"] is True


def test_stack_has_no_container_names_and_images_pinned_below_latest(stack_file):
    for name, service in stack_file["services"].items():
        assert "container_name" not in service, name
        image = image_default(service["image"])
        tag = image.rpartition(":")[2]
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{name}: {image}"


def test_migrate_is_a_one_shot_service_any_docker_cli_deploys(stack_file):
    """Not `mode: replicated-job`, which a docker CLI before 23.0 (Debian's 20.10) refuses."""
    assert stack_file["version"] == "3.9"  # those CLIs refuse a file without it
    migrate = stack_file["services"]["migrate"]["deploy"]
    assert migrate["mode"] == "replicated" and migrate["replicas"] == 1
    assert migrate["labels"] == {swarm.ONE_SHOT_LABEL: "true"}
    assert migrate["restart_policy"]["condition"] == "on-failure"
    modes = {s["deploy"].get("mode") for s in stack_file["services"].values()}
    assert "replicated-job" not in modes


def test_deploy_env_is_read_as_compose_reads_it_and_the_shell_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# a comment\n"
        "POSTGRES_USER=sampleapp  # trailing comment\n"
        "export SAMPLEAPP_PORT=8088\n"
        "SAMPLEAPP_PROJECT='quoted name'\n"
        'SECRET_PATTERN="${NOT_EXPANDED}"\n'
        "NAME_ONLY\n"
    )
    assert env_file_values(env_file) == {
        "POSTGRES_USER": "sampleapp",
        "SAMPLEAPP_PORT": "8088",
        "SAMPLEAPP_PROJECT": "quoted name",
        "SECRET_PATTERN": "${NOT_EXPANDED}",
    }
    monkeypatch.setenv("SAMPLEAPP_PORT", "9000")
    monkeypatch.delenv("POSTGRES_USER", raising=False)
    assert load_settings(env_file=env_file).env["SAMPLEAPP_PORT"] == "9000"
    assert load_settings({"SAMPLEAPP_PORT": "1"}, env_file).env["SAMPLEAPP_PORT"] == "1"
    assert load_settings(env_file=env_file).env["POSTGRES_USER"] == "sampleapp"
