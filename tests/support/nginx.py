"""The renderer with its nginx child, run for real on a free loopback port.

``RendererProcess`` starts ``sampleapp renderer`` as a subprocess in its own session (so the nginx
it starts goes down with it), in a runtime directory readable by nginx's worker user, and reads the
``status.json`` the renderer keeps (nginx master PID, reload and rejection counts, servers). A
missing nginx fails the run naming the Debian package.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.etcd import free_port, require_binary, wait_until

SAMPLEAPP = str(Path(sys.executable).with_name("sampleapp"))


def require_nginx() -> str:
    return require_binary("nginx", "nginx-light")


class RendererProcess:
    """``sampleapp renderer`` watching ``prefix``; nginx answers on ``url``."""

    def __init__(self, base_dir: Path, name: str, endpoints: str, prefix: str, **env: str) -> None:
        self.runtime_dir = base_dir / f"nginx-{name}"
        self.static_root = base_dir / f"public-{name}"
        self.log_path = base_dir / f"renderer-{name}.log"
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
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RendererProcess:
        self.static_root.mkdir(mode=0o755, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [SAMPLEAPP, "renderer"],
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

    def wait_for_servers(self, count: int, timeout: float = 15.0) -> dict[str, Any]:
        return wait_until(
            lambda: (s := self.status()) and len(s.get("servers", [])) == count and s,
            timeout,
            f"{count} server(s) in nginx's upstream (log: {self.log_path})",
        )

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
