"""Real microblog app servers and a load generator for the discovery tests.

``AppServer`` runs the container role ``sampleapp web`` (a supervisor registering in etcd, its
gunicorn child with one worker) with its own INSTANCE_ID on a free loopback port; ``terminate``
sends SIGTERM to the supervisor only (what ``docker stop`` does to PID 1), ``kill`` sends SIGKILL to
its whole process group (what ``docker kill`` does). ``gunicorn_pid``, ``worker_pids`` and
``connections_to`` read the process tree and sockets from /proc. ``Load`` keeps a few client
threads requesting through nginx and records every outcome: a request fails when it raises or is
not answered by an app server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.etcd import free_port, wait_until
from tests.support.nginx import SAMPLEAPP
from tests.support.site import trust


def migrate(data_dir: Path, log_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "SAMPLEAPP_DATA_DIR": str(data_dir)}
    with log_path.open("ab") as log:
        subprocess.run(
            [SAMPLEAPP, "manage", "migrate", "--noinput"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


def start_register_db(
    log_path: Path, port: int, endpoints: str, host: str = "127.0.0.1", **env: str
) -> subprocess.Popen[bytes]:
    """``sampleapp register-db`` publishing a stand-in database on ``host``:``port``."""
    full_env = {"PATH": os.environ["PATH"], "ETCD_ENDPOINTS": endpoints, **env}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [SAMPLEAPP, "register-db", "--host", host, "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class AppServer:
    def __init__(self, base_dir: Path, data_dir: Path, instance: str, endpoints: str, **env: str):
        self.instance = instance
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.log_path = base_dir / f"app-{instance}.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "SAMPLEAPP_DATA_DIR": str(data_dir),
            "INSTANCE_ID": instance,
            "ETCD_ENDPOINTS": endpoints,
            "LEASE_TTL": "3",
            "DRAIN_SECONDS": "1.5",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AppServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    SAMPLEAPP,
                    "web",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self, path: str = "/healthz") -> int:
        try:
            return httpx.get(self.url + path, timeout=2, trust_env=False).status_code
        except httpx.HTTPError:
            return 0

    def terminate(self) -> None:
        """SIGTERM to the supervisor only, as ``docker stop`` does to PID 1."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def gunicorn_pid(self) -> int:
        """The supervisor's child: gunicorn's master (it forks the workers)."""
        assert self.process is not None
        pid = self.process.pid
        return wait_until(lambda: children(pid), 30, "gunicorn to start")[0]

    def worker_pids(self) -> list[int]:
        return wait_until(lambda: children(self.gunicorn_pid()), 30, "a gunicorn worker")

    def kill(self) -> None:
        """SIGKILL to every process of the server, as ``docker kill`` does."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc/*/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it.
            state, ppid = stat.read_text().rpartition(")")[2].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(stat.parent.name))
    return sorted(found)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has exited: only its exit status is left)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def connections_to(pid: int, port: int) -> list[str]:
    """The TCP sockets open in ``pid`` whose far end is 127.0.0.1:``port`` (client sides).

    A server's own accepted connections have ``port`` as their local end, so this lists only
    connections the process itself opened, or inherited, towards that port."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if match := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd)):
                inodes.add(match[1])
    found = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and remote == f"0100007F:{port:04X}":
            found.append(f"{local} -> {remote} (state {fields[3]}, inode {inode})")
    return found


@dataclass
class Load:
    """``threads`` clients requesting ``url``, each request on a new connection: back to back, or
    ``rate`` requests a second between them all.

    A request succeeds when an app server answered it (X-Served-By) without a server error; a
    POST is expected to be refused by the app (CSRF, method not allowed) and still counts as
    answered, since what is tested is that it reached a live server exactly once.
    """

    url: str
    threads: int = 4
    rate: float | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)  # e.g. site.PAST_THE_PAGE_CACHE
    served_by: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.served_by.values()) + len(self.failures)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Wait until ``count`` more requests have completed."""
        target = self.total + count
        wait_until(lambda: self.total >= target, timeout, f"{count} more requests through nginx")

    def _run(self) -> None:
        # "Connection: close" on every request: each one is a new TCP connection to nginx, so a
        # failure can only be the load balancer's, never a keep-alive race of the client.
        headers = {"Connection": "close", **self.headers}
        every = self.threads / self.rate if self.rate else 0.0  # seconds between this one's starts
        with httpx.Client(timeout=20, trust_env=False, headers=headers, verify=trust()) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.request(self.method, self.url)
                    served_by = response.headers.get("X-Served-By")
                    ok = response.status_code == 200 or (
                        self.method != "GET" and response.status_code < 500
                    )
                    outcome = served_by if ok and served_by else None
                    problem = f"{response.status_code} served by {served_by}"
                except httpx.HTTPError as exc:
                    outcome, problem = None, f"{type(exc).__name__}: {exc}"
                if not outcome:  # when, to match it with the servers' logs
                    problem = f"{dt.datetime.now(dt.UTC):%H:%M:%S.%f} UTC {problem}"
                with self._lock:
                    if outcome:
                        self.served_by[outcome] += 1
                    else:
                        self.failures.append(problem)
                self._stop.wait(every - (time.monotonic() - started))
