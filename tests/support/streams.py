"""``make test``: every test, in three streams side by side, each a pytest session of its own.

Most of the suite's time is waiting (Docker deploys, health checks, lease TTLs, rolls), so the
Docker suites run beside the host suites instead of after them:

- host: everything but tests/ops, on SQLite, then the app's suite again on PostgreSQL;
- cluster: tests/ops/test_cluster.py (the three-node Swarm);
- ops: the rest of tests/ops (the Compose stack, the image, the release).

The union is the whole suite, each test in exactly one stream. The app image is built once,
while the host stream runs, before the two Docker streams start, so their sessions find it
built. What the Docker streams share on the engine is kept apart: each session names its
stack or cluster after its own pid and takes its ports and subnets free (stacks and clusters
from separate ranges, tests/support/docker.py); image builds and prunes take
``images.build_lock``, and a test that points the ``APP_IMAGE`` tag elsewhere for a while holds
``support.docker.app_image_tag`` against the cluster's pushes. Each stream's output goes to a
log, printed whole when the stream ends; the exit status is 0 only if every stream passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PYTEST = [sys.executable, "-m", "pytest"]
CLUSTER = "tests/ops/test_cluster.py"


@dataclass
class Stream:
    name: str
    commands: list[tuple[list[str], dict[str, str]]]  # run in order; the first failure ends it
    log: Path
    started: float = 0.0
    process: subprocess.Popen[bytes] | None = None
    step: int = 0
    failed: bool = False
    output: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.started = time.monotonic()
        self.output = self.log.open("wb")
        self._next()

    def _next(self) -> None:
        argv, env = self.commands[self.step]
        assert self.output is not None
        self.output.write(f"$ {' '.join(argv)}\n".encode())
        self.output.flush()
        self.process = subprocess.Popen(
            argv, stdout=self.output, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )

    def poll(self) -> bool:
        """Advance; True once the stream has ended."""
        if self.process is None or self.process.poll() is None:
            return False
        if self.process.returncode != 0:
            self.failed = True
        self.step += 1
        if self.failed or self.step == len(self.commands):
            self.process = None
            assert self.output is not None
            self.output.close()
            return True
        self._next()
        return False


def build_image(log: Path) -> None:
    """The app image (and any missing base), built once for both Docker streams."""
    from sampleapp.ops import engine, images
    from sampleapp.progress import Progress

    engine.ensure_engine()
    images.build_app_image(Progress(log))


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="sampleapp-streams-"))

    def session(name: str, *args: str) -> list[str]:
        return [*PYTEST, f"--basetemp={root / name}", *args]

    streams = {
        "host": Stream(
            "host",
            [
                (session("host", "--ignore=tests/ops"), {}),
                (session("host-postgres", "sampleapp/web"), {"SAMPLEAPP_TEST_DB": "postgres"}),
            ],
            root / "host.log",
        ),
        "cluster": Stream("cluster", [(session("cluster", CLUSTER), {})], root / "cluster.log"),
        "ops": Stream(
            "ops", [(session("ops", "tests/ops", f"--ignore={CLUSTER}"), {})], root / "ops.log"
        ),
    }
    began = time.monotonic()
    print(f"▶ Tests in three streams (logs in {root}): host now, cluster and ops after the build")
    streams["host"].start()
    build_log = root / "build.log"
    try:
        build_image(build_log)
    except Exception as exc:  # the Docker streams cannot run; the host stream still reports
        print(f"✘ The app image did not build: {exc}\n{build_log.read_text()}", flush=True)
        streams["cluster"].failed = streams["ops"].failed = True
        running = [streams["host"]]
    else:
        print(f"  app image built in {time.monotonic() - began:.0f} s", flush=True)
        streams["cluster"].start()
        streams["ops"].start()
        running = list(streams.values())
    while running:
        for stream in list(running):
            if stream.poll():
                running.remove(stream)
                took = time.monotonic() - stream.started
                verdict = "FAILED" if stream.failed else "passed"
                print(f"\n===== stream {stream.name}: {verdict} in {took:.0f} s =====", flush=True)
                sys.stdout.write(stream.log.read_text(errors="replace"))
                sys.stdout.flush()
        time.sleep(1)
    failed = [s.name for s in streams.values() if s.failed]
    total = time.monotonic() - began
    print(
        f"\n▶ Streams done in {total:.0f} s: "
        + (f"FAILED: {', '.join(failed)}" if failed else "all passed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
