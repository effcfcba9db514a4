"""Real etcd members on loopback for the tests: one member, or a static three-member cluster.

Each member gets free client and peer ports and a data directory in /dev/shm when it exists
(etcd fsyncs every write; memory keeps the suite fast), logs to a file, and runs in its own session
so it can be stopped, killed or replaced on the same ports. A missing binary fails the test run with
the Debian package to install; nothing is skipped.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from sampleapp.poll import PENDING, poll

T = TypeVar("T")


def require_binary(name: str, package: str) -> str:
    """The path of ``name``, or fail the run naming the Debian package that provides it."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        pytest.fail(
            f"{name} is not installed: install the Debian package {package} "
            f"(apt-get install {package}, or `make system-deps`)",
            pytrace=False,
        )
    return path


# Every port handed out in this process. A server binds its port a moment after it is chosen
# (a process starting), and the kernel may offer the same free port again meanwhile: two app
# servers were given one port, and the second registered the first's address.
_GIVEN: set[int] = set()
# Ports are taken below Linux's ephemeral range (ip_local_port_range, 32768-60999 by default),
# from which every outgoing connection takes its local port: a port chosen in it was free when
# checked, then taken by one of the thousands of connections a load test makes before its server
# bound it (a DNS server's TCP side failed with "Address already in use" so).
LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    """A port free on 127.0.0.1 now for TCP and UDP, below the ephemeral range, and not handed
    out before in this process."""
    for _ in range(1000):
        port = random.choice(LISTEN_PORTS)
        if port in _GIVEN:
            continue
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail saying ``what`` never came."""
    return poll(
        f"Waiting for {what}",
        lambda: predicate() or PENDING,
        timeout,
        interval=interval,
        fail=lambda why: pytest.fail.Exception(why, pytrace=False),
    )


@dataclass
class EtcdMember:
    name: str
    data_dir: Path
    log_path: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, initial_cluster: str, token: str) -> None:
        binary = require_binary("etcd", "etcd-server")
        args = [
            binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-token={token}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-level=warn",
        ]
        with self.log_path.open("ab") as log:
            # A clean environment: etcd reads ETCD_* variables as flags.
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.client_url}/health", timeout=1.0, trust_env=False)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("health") == "true"

    def kill(self) -> None:
        """SIGKILL, like a crashed machine."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class EtcdCluster:
    """``size`` members forming one cluster; ``endpoints`` is what ETCD_ENDPOINTS gets."""

    def __init__(self, base_dir: Path, size: int = 1, name: str = "etcd") -> None:
        shm = Path("/dev/shm")
        self._data_root = Path(tempfile.mkdtemp(prefix="etcd-", dir=shm if shm.is_dir() else None))
        self.base_dir = base_dir
        self.token = uuid.uuid4().hex[:12]
        self.members = [
            EtcdMember(f"m{i}", self._data_root / f"m{i}", base_dir / f"{name}-m{i}.log")
            for i in range(size)
        ]

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def env_endpoints(self) -> str:
        return ",".join(self.endpoints)

    def start(self) -> EtcdCluster:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.start(initial, self.token)
        self.wait_healthy(self.members)
        return self

    def wait_healthy(self, members: Sequence[EtcdMember], timeout: float = 30.0) -> None:
        logs = ", ".join(str(m.log_path) for m in members)
        wait_until(
            lambda: all(m.healthy() for m in members), timeout, f"etcd healthy (logs: {logs})"
        )

    def replace_with_empty(self) -> None:
        """Stop a one-member cluster and start a new, empty one on the same ports (data loss)."""
        (member,) = self.members
        member.stop()
        shutil.rmtree(member.data_dir, ignore_errors=True)
        self.token = uuid.uuid4().hex[:12]
        member.start(f"{member.name}={member.peer_url}", self.token)
        self.wait_healthy([member])

    def etcdctl(self, *args: str) -> str:
        binary = require_binary("etcdctl", "etcd-client")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ETCDCTL_API": "3"}
        result = subprocess.run(
            [binary, f"--endpoints={self.env_endpoints}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        return result.stdout

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        shutil.rmtree(self._data_root, ignore_errors=True)
