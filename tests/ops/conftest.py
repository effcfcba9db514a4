"""Session fixtures for the container tests: a real Docker engine, the images, one stack.

The engine is the machine's (started by the project's own ``ensure_engine`` when installed but
stopped); the images are built once per session by the same code as ``sampleapp image build``.
The stack runs under its own Compose project name, host port and subnet, so it never touches a
stack a person has running, and it is removed with its volumes at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from sampleapp.ops import engine, images, stack
from sampleapp.ops.settings import load as load_settings
from sampleapp.progress import Progress
from tests.support import site
from tests.support.docker import free_cluster_subnet, free_subnet
from tests.support.etcd import free_port, wait_until

# One project per test session: two sessions on one engine never share containers or volumes.
PROJECT = f"sampleapp-test-{os.getpid()}"


@pytest.fixture(scope="session")
def docker_engine() -> tuple[int, int]:
    return engine.ensure_engine()


@pytest.fixture(scope="session")
def app_image(
    docker_engine: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Build the image (and local bases where no registry answers) once; returns the bases."""
    log = tmp_path_factory.mktemp("build") / "build.log"
    return images.build_app_image(Progress(log))


@dataclass
class StackEnv:
    port: int  # plain HTTP: redirects
    tls_port: int
    secrets_dir: Path
    values: dict[str, str]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"


@pytest.fixture(scope="session")
def stack_env(
    docker_engine: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackEnv]:
    """An isolated project: its own name, port, subnet and secrets, set for the whole session."""
    secrets_dir = tmp_path_factory.mktemp("secrets")
    for name in ("postgres_password", "secret_key"):
        (secrets_dir / f"{name}.txt").write_text(secrets.token_urlsafe(32))
    port, tls_port = free_port(), free_port()
    subnet, dns_ip = free_subnet()
    values = {
        "SAMPLEAPP_PROJECT": PROJECT,
        "SAMPLEAPP_PORT": str(port),
        "SAMPLEAPP_TLS_PORT": str(tls_port),
        "SAMPLEAPP_FRONT_SUBNET": subnet,
        "SAMPLEAPP_DNS_IP": dns_ip,
        "SAMPLEAPP_SECRETS_DIR": str(secrets_dir),
        "POSTGRES_USER": "sampleapp",
        "EMAIL_URL": "console://",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        site.CERTIFICATES.append(secrets_dir / "tls_cert.pem")  # made by the first `up`
        yield StackEnv(port, tls_port, secrets_dir, values)
        stack.down(load_settings(), volumes=True, progress=Progress())


@pytest.fixture(scope="session")
def running_stack(app_image: dict[str, str], stack_env: StackEnv) -> StackEnv:
    stack.up(
        load_settings(),
        stack.Options(replicas=3, build=False),
        Progress(stack_env.secrets_dir / "up.log"),
    )
    return stack_env


def project_resources() -> dict[str, list[str]]:
    """Containers, volumes and networks of the test project."""
    label = f"label=com.docker.compose.project={load_settings().project}"
    return {
        "containers": engine.docker("ps", "-aq", "--filter", label).split(),
        "volumes": engine.docker("volume", "ls", "-q", "--filter", label).split(),
        "networks": engine.docker("network", "ls", "-q", "--filter", label).split(),
    }


@dataclass
class Registry:
    address: str  # host:port on loopback


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry (distribution 2.8) on a free loopback port, storage in a tmp dir."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: `apt-get install docker-registry`")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                "http": {"addr": f"127.0.0.1:{port}"},
                "log": {"level": "warn"},
            }
        )
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    address = f"127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, 30, "docker-registry to answer")
    yield Registry(address)
    process.terminate()
    process.wait(10)
    log.close()


@dataclass
class ClusterEnv:
    name: str
    port: int  # plain HTTP: redirects
    tls_port: int
    secrets_dir: Path
    lease_ttl: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"


@pytest.fixture(scope="module")
def cluster_env(
    docker_engine: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterEnv]:
    """A cluster of its own for one test module: name, host port, subnet, secrets, short leases.

    Removed at the end of the module even when a test failed, so the suites after it (the
    Compose stack) do not share the machine with three running engines.
    """
    from sampleapp.ops import cluster

    secrets_dir = tmp_path_factory.mktemp("cluster-secrets")
    for name in ("postgres_password", "secret_key"):
        (secrets_dir / f"{name}.txt").write_text(secrets.token_urlsafe(32))
    name = f"sampleapp-test-{os.getpid()}"
    env = ClusterEnv(name, free_port(), free_port(), secrets_dir, lease_ttl=5)
    values = {
        "SAMPLEAPP_CLUSTER": env.name,
        "SAMPLEAPP_CLUSTER_PORT": str(env.port),
        "SAMPLEAPP_CLUSTER_TLS_PORT": str(env.tls_port),
        "SAMPLEAPP_CLUSTER_SUBNET": free_cluster_subnet(),
        "SAMPLEAPP_SECRETS_DIR": str(secrets_dir),
        "SAMPLEAPP_LEASE_TTL": str(env.lease_ttl),
        "POSTGRES_USER": "sampleapp",
        "EMAIL_URL": "console://",
    }
    site.CERTIFICATES.append(secrets_dir / "tls_cert.pem")  # made by `cluster deploy`
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        try:
            yield env
        finally:
            cluster.destroy(load_settings(), Progress())
