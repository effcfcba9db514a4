"""A throw-away PostgreSQL server for the test session, started from Debian's binaries.

``initdb`` makes a cluster in a temporary directory, ``pg_ctl`` starts it on a free loopback
port with its unix socket in that directory, and ``stop()`` removes everything. Durability is
switched off (fsync, synchronous_commit, full_page_writes) since the data lives for one run.
PostgreSQL refuses to run as root, so as root every command runs as the ``postgres`` OS user
(created by Debian's ``postgresql`` package) through ``runuser``; as anyone else it runs directly.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.etcd import free_port

INSTALL_HINT = (
    "install Debian's `postgresql` package (apt-get install postgresql) or run `make test`"
)


class PostgresError(RuntimeError):
    pass


def find_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates = [d for d in candidates if (d / "pg_ctl").exists()]
    if not candidates:
        raise PostgresError(
            f"PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: {INSTALL_HINT}"
        )
    return max(candidates, key=lambda d: int(d.parent.name.split(".")[0]))


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="sampleapp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.runas: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresError(
                    f"running as root but there is no `postgres` user: {INSTALL_HINT}"
                ) from exc
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.runas = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/sampleapp"

    def _run(self, *args: str) -> None:
        command = [*self.runas, *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise PostgresError(
                f"`{' '.join(args)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}"
            )

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
