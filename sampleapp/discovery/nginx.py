"""nginx as the renderer's child process: check a config, start, reload gracefully, stop.

The thesis restarted nginx by killing its container through the Docker socket. Here the renderer
starts nginx itself (``daemon off``, so one container runs both and no socket is mounted), checks
every candidate config with ``nginx -t`` before installing it, and reloads with SIGHUP: the master
keeps its PID and its listening socket, starts new workers on the new config and lets the old ones
finish their requests. A missing binary or a crash is a DiscoveryError naming the fix.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from sampleapp.errors import DiscoveryError

log = logging.getLogger(__name__)

CONTROL_SOCKET = "control.sock"  # nginx answers the renderer's questions here, never on the network


@contextmanager
def map_nginx_errors(binary: str) -> Iterator[None]:
    """Translate failures to run nginx into DiscoveryError."""
    try:
        yield
    except FileNotFoundError as exc:
        raise DiscoveryError(
            f"nginx was not found at {binary}: install it (Debian package nginx-light) "
            "or set NGINX_BIN"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise DiscoveryError(
            f"`{binary} -t` did not finish in {exc.timeout} s: check nginx"
        ) from exc
    except OSError as exc:
        raise DiscoveryError(f"cannot run {binary} ({exc}): check NGINX_BIN") from exc


class Nginx:
    """One nginx master, run in the foreground with its config at ``conf``."""

    def __init__(self, binary: str, runtime_dir: Path) -> None:
        self.binary = binary
        self.runtime_dir = runtime_dir
        self.conf = runtime_dir / "nginx.conf"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DiscoveryError("nginx is not running: call start() first")
        return self.process.pid

    def check(self, conf: Path) -> str:
        """Run ``nginx -t`` on ``conf``; returns "" when valid, else nginx's complaint."""
        with map_nginx_errors(self.binary):
            result = subprocess.run(
                [
                    self.binary,
                    "-t",
                    "-q",
                    "-e",
                    "stderr",
                    "-p",
                    str(self.runtime_dir),
                    "-c",
                    str(conf),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        if result.returncode == 0:
            return ""
        lines = [ln for ln in result.stderr.splitlines() if "[emerg]" in ln or "[alert]" in ln]
        return "; ".join(lines) or result.stderr.strip() or f"nginx -t exited {result.returncode}"

    def start(self, generation: int, listen: str, deadline: float = 15.0) -> None:
        """Start the master; return once its workers answer with config ``generation``."""
        with map_nginx_errors(self.binary):
            self.process = subprocess.Popen(
                [self.binary, "-e", "stderr", "-p", str(self.runtime_dir), "-c", str(self.conf)]
            )
        # Asked on the control socket, not the public port: another program holding that port
        # would answer a connection, while nginx retries bind() for a while and then gives up.
        if not self.wait_generation(generation, deadline):
            self.stop()
            raise DiscoveryError(
                f"nginx exited with status {self.process.returncode} at start: read its messages "
                f"above (is {listen} free? set NGINX_LISTEN)"
            )
        log.info("nginx %d is serving on %s", self.process.pid, listen)

    def reload(self) -> None:
        """Graceful reload: same master, new workers, old workers finish their requests."""
        os.kill(self.pid, signal.SIGHUP)

    def wait_generation(self, generation: int, deadline: float = 5.0) -> bool:
        """Wait until the workers answer with config ``generation`` (the reload took effect)."""
        transport = httpx.HTTPTransport(uds=str(self.runtime_dir / CONTROL_SOCKET))
        until = time.monotonic() + deadline
        with httpx.Client(transport=transport, timeout=1.0) as client:
            while time.monotonic() < until and self.exit_code() is None:
                try:
                    if client.get("http://nginx/generation").text.strip() == str(generation):
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)  # polling under the deadline above
        log.warning(
            "nginx did not confirm config generation %d within %.0f s", generation, deadline
        )
        return False

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGQUIT), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
