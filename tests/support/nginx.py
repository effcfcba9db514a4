"""The renderer with its nginx child, run for real on a free loopback port.

``RendererProcess`` starts ``sampleapp renderer`` as a subprocess in its own session (so the nginx
it starts goes down with it), in a runtime directory readable by nginx's worker user, and reads the
``status.json`` the renderer keeps (nginx master PID, reload and rejection counts, servers). A
missing nginx fails the run naming the Debian package. ``successor()`` is its restart, on the same
port and runtime directory; ``wrapper`` runs it under another command (``unshare ...`` makes it
PID 1 of a namespace, as in a container).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.etcd import free_port, require_binary, wait_until

SAMPLEAPP = str(Path(sys.executable).with_name("sampleapp"))


def require_nginx() -> str:
    return require_binary("nginx", "nginx-light")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has let go of everything: it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rpartition(")")[2].split()[1]
                )
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return [p for p in found if running(p)]


class RendererProcess:
    """``sampleapp renderer`` watching ``prefix``; nginx answers on ``url``."""

    def __init__(self, base_dir: Path, name: str, endpoints: str, prefix: str, **env: str) -> None:
        self.runtime_dir = base_dir / f"nginx-{name}"
        self.static_root = base_dir / f"public-{name}"
        self.log_path = base_dir / f"renderer-{name}.log"
        self.wrapper: list[str] = []  # a command the renderer runs under
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ETCD_ENDPOINTS": endpoints,
            "SERVICES_PREFIX": prefix,
            "NGINX_BIN": require_nginx(),
            "NGINX_LISTEN": f"127.0.0.1:{self.port}",
            "NGINX_RUNTIME_DIR": str(self.runtime_dir),
            "NGINX_STATIC_ROOT": str(self.static_root),
            "NGINX_ACCESS_LOG": str(base_dir / f"access-{name}.log"),
            "RENDER_DEBOUNCE": "0.25",
            "DRAIN_SECONDS": "0",  # stop() at once; a test of the drain sets its own
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RendererProcess:
        self.static_root.mkdir(mode=0o755, exist_ok=True)
        (self.runtime_dir / "status.json").unlink(missing_ok=True)  # a predecessor's
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.wrapper, SAMPLEAPP, "renderer"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        wait_until(
            lambda: self.status().get("nginx_pid") or self._exited(),
            30,
            f"the renderer to start nginx (log: {self.log_path})",
        )
        return self

    def successor(self) -> RendererProcess:
        """Another renderer, not started, on this one's port and runtime directory."""
        new = copy.copy(self)
        new.env, new.wrapper, new.process = dict(self.env), list(self.wrapper), None
        return new

    def status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.runtime_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    @property
    def nginx_pid(self) -> int:
        return int(self.status()["nginx_pid"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def config(self) -> str:
        return (self.runtime_dir / "nginx.conf").read_text()

    def wait_for_servers(self, count: int, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_for_status(
            lambda s: len(s.get("servers", [])) == count,
            f"{count} server(s) in nginx's upstream",
            timeout,
        )

    def wait_for_status(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first status.json for which ``predicate`` holds (polled; fails naming ``what``)."""

        def matching() -> dict[str, Any]:
            status = self.status()
            return status if status and predicate(status) else {}

        return wait_until(matching, timeout, f"{what} (log: {self.log_path})")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        # Whatever is left of the session (an nginx that outlived its parent).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _exited(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the renderer exited early:\n{self.log()[-3000:]}")
        return False
