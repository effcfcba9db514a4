"""``make run`` (``sampleapp run``) on a port another process holds: one error line that names
the port and the fix, before anything is made (no database, no static files)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SAMPLEAPP = str(Path(sys.executable).parent / "sampleapp")


def test_make_run_on_a_taken_port_says_so_before_making_anything(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "SAMPLEAPP_DATA_DIR": str(tmp_path / "var")}
        env.pop("DATABASE_URL", None)
        done = subprocess.run(
            [SAMPLEAPP, "run", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: Port {port} on 127.0.0.1 is taken"), done.stderr
    assert f"PORT={port + 1} make run" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists() or not any((tmp_path / "var").iterdir())
