"""Session fixtures for the discovery suite: real etcd, app servers, renderer and nginx.

Everything listens on free loopback ports and lives in one world-readable temporary directory
(nginx's workers run as ``nobody`` when the suite runs as root). The directory is removed after
a green run and kept, with every process log in it, after a red one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.servers import AppServer, migrate
from tests.support.etcd import EtcdCluster
from tests.support.nginx import RendererProcess, require_nginx

StartServer = Callable[..., AppServer]
StartRenderer = Callable[..., RendererProcess]


@pytest.fixture(scope="session")
def base_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sampleapp-discovery-"))
    path.chmod(0o755)
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed > failed_before:
        print(f"\ndiscovery logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd(base_dir: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(base_dir, size=1)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def etcd_client(etcd: EtcdCluster) -> Iterator[EtcdClient]:
    with EtcdClient(etcd.endpoints) as client:
        yield client


@pytest.fixture(scope="session")
def app_data(base_dir: Path) -> Path:
    """One migrated SQLite data directory shared by every app server of the suite."""
    data = base_dir / "app-data"
    migrate(data, base_dir / "migrate.log")
    return data


@pytest.fixture(scope="module")
def start_server(base_dir: Path, app_data: Path) -> Iterator[StartServer]:
    servers: list[AppServer] = []

    def start(instance: str, endpoints: str, data_dir: Path | None = None, **env: str) -> AppServer:
        server = AppServer(base_dir, data_dir or app_data, instance, endpoints, **env)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def start_renderer(base_dir: Path) -> Iterator[StartRenderer]:
    require_nginx()
    renderers: list[RendererProcess] = []

    def start(name: str, endpoints: str, prefix: str, **env: str) -> RendererProcess:
        renderer = RendererProcess(base_dir, name, endpoints, prefix, **env)
        renderers.append(renderer)
        return renderer.start()

    yield start
    for renderer in renderers:
        renderer.stop()
