"""nginx as the renderer's child process: check a config, start, reload gracefully, stop.

The thesis restarted nginx by killing its container through the Docker socket. Here the renderer
starts nginx itself (``daemon off``, so one container runs both and no socket is mounted), checks
every candidate config with ``nginx -t`` before installing it, and reloads with SIGHUP: the master
keeps its PID and its listening socket, starts new workers on the new config and lets the old ones
finish their requests. A missing binary or a crash is a DiscoveryError naming the fix.

nginx never outlives its renderer. It is started through ``setpriv --pdeathsig QUIT``, so the
kernel sends it SIGQUIT (graceful stop) when the renderer dies, even by ``kill -9``; the death
signal belongs to the *thread* that spawned the child, so ``start`` is called from the main thread.
A renderer started on a runtime directory whose ``nginx.pid`` names a live nginx master running
our config (left by a renderer whose death signal was lost) stops that nginx first, so the port is
free for its own: it checks ``/proc/<pid>/cmdline``, never trusting the PID alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from sampleapp.discovery.config import CONTROL_SOCKET, setpriv
from sampleapp.errors import DiscoveryError, SampleappError
from sampleapp.healthcheck import unix_http_get
from sampleapp.poll import PENDING, poll

log = logging.getLogger(__name__)

PID_FILE = "nginx.pid"  # where the template tells nginx to write its master's PID
# Seconds a leftover nginx gets to stop gracefully: above the template's worker_shutdown_timeout.
LEFTOVER_WAIT = 45.0


@contextlib.contextmanager
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
        self._old_workers: list[int] = []  # the workers of the config a reload replaces

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DiscoveryError("nginx is not running: call start() first")
        return self.process.pid

    def check(self, conf: Path) -> str:
        """Run ``nginx -t`` on ``conf``; returns "" when valid, else nginx's complaint."""
        with map_nginx_errors(self.binary):
            argv = self._argv(conf, "-t", "-q")
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0:
            return ""
        lines = [ln for ln in result.stderr.splitlines() if "[emerg]" in ln or "[alert]" in ln]
        return "; ".join(lines) or result.stderr.strip() or f"nginx -t exited {result.returncode}"

    def start(self, generation: int, listen: str, deadline: float = 60.0) -> None:
        """Start the master (from the main thread); return once it serves config ``generation``."""
        with map_nginx_errors(self.binary):
            if shutil.which(self.binary) is None:  # setpriv would start, then fail to exec it
                raise FileNotFoundError(self.binary)
            why = "it makes nginx stop with its renderer"
            argv = [setpriv(why), "--pdeathsig", "QUIT", "--", *self._argv(self.conf)]
            self.process = subprocess.Popen(argv)
        # Asked on the control socket, not the public port: another program holding that port
        # would answer a connection, while nginx retries bind() for a while and then gives up.
        if not self.wait_generation(generation, deadline):
            code = self.process.poll()
            self.stop()
            if code is None:
                raise DiscoveryError(
                    f"nginx did not answer on {self.runtime_dir / CONTROL_SOCKET} within "
                    f"{deadline:.0f} s of its start: read its messages above"
                )
            raise DiscoveryError(
                f"nginx exited with status {code} at start: read its messages above "
                f"(is {listen} free? set NGINX_LISTEN)"
            )
        log.info("nginx %d is serving on %s", self.process.pid, listen)

    def stop_leftover(self) -> int | None:
        """Stop an nginx master left running on this runtime directory; returns its PID."""
        try:
            pid = int((self.runtime_dir / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        if pid == os.getpid() or not _is_master_of(pid, self.conf):
            return None
        log.warning("stopping nginx %d, left running on %s by an earlier renderer", pid, self.conf)
        workers = _children(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        if not _waited(f"nginx {pid} to stop", lambda: not _alive(pid), LEFTOVER_WAIT):
            log.warning("nginx %d did not stop in %.0f s: killing it", pid, LEFTOVER_WAIT)
            _kill_all([pid, *workers])
            # SIGKILLed: gone at its next scheduling
            _waited("nginx to die", lambda: not any(_alive(p) for p in (pid, *workers)), 5.0)
        return pid

    def reload(self) -> None:
        """Graceful reload: same master, new workers, old workers finish their requests."""
        self._old_workers = _children(self.pid)
        os.kill(self.pid, signal.SIGHUP)

    def wait_generation(self, generation: int, deadline: float = 30.0) -> bool:
        """Wait until config ``generation`` is the only one new connections can meet.

        A new worker answers with it on the control socket, and every worker of the previous
        config has stopped accepting: until it handles its shutdown signal, an old worker still
        accepts connections on the shared socket and routes them by the old pool.
        """
        control = self.runtime_dir / CONTROL_SOCKET

        def serving() -> bool:
            if self.exit_code() is not None:
                raise DiscoveryError(f"nginx exited with status {self.exit_code()}")
            try:
                status, answered = unix_http_get(control, "/generation", timeout=1.0)
            except (OSError, RuntimeError):  # not listening yet, or not answering HTTP
                return False
            return (status, answered.strip()) == (200, str(generation).encode()) and not any(
                _accepting(w) for w in self._old_workers
            )

        # An nginx that exited raises in serving(): not confirmed, at once.
        confirmed = _waited(f"nginx to serve config {generation}", serving, deadline)
        if confirmed:
            self._old_workers = []
        else:
            log.warning(
                "nginx did not confirm config generation %d within %.0f s", generation, deadline
            )
        return confirmed

    def _argv(self, conf: Path, *flags: str) -> list[str]:
        return [self.binary, *flags, "-e", "stderr", "-p", str(self.runtime_dir), "-c", str(conf)]

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """Graceful shutdown (SIGQUIT), then SIGKILL of the master and its workers."""
        if self.process is None or self.process.poll() is not None:
            return
        workers = _children(self.process.pid)
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(10.0)
        except subprocess.TimeoutExpired:
            _kill_all([self.process.pid, *workers])
            self.process.wait()


def _waited(what: str, done: Callable[[], bool], timeout: float) -> bool:
    """Whether ``done`` came true within ``timeout`` s, asked every 5 ms: these waits measure
    what nginx does in milliseconds, and a reload is only as quick as they notice it."""
    try:
        return poll(f"Waiting for {what}", lambda: done() or PENDING, timeout, interval=0.005)
    except SampleappError:
        return False


def _is_master_of(pid: int, conf: Path) -> bool:
    """Whether ``pid`` is a live nginx master started with ``-c conf`` (what start() runs)."""
    title = _proc(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")
    return (
        _alive(pid) and title.startswith("nginx: master process ") and f" -c {conf} " in title + " "
    )


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has released its sockets: it counts as gone)."""
    return _stat(pid)[:1] not in ([], [b"Z"], [b"X"])


def _accepting(worker: int) -> bool:
    """Whether an nginx worker may still accept connections (alive and not shutting down)."""
    return _alive(worker) and b"shutting down" not in _proc(worker, "cmdline")


def _children(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (an nginx master's workers)."""
    procs = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [child for child in procs if _stat(child)[1:2] == [str(pid).encode()]]


def _stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command (state, parent ...); [] when gone."""
    return _proc(pid, "stat").rpartition(b")")[2].split()


def _proc(pid: int, name: str) -> bytes:
    """``/proc/<pid>/<name>``; empty when the process is gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
