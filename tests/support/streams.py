"""``make test``: every test, in three streams side by side, each a pytest session of its own.

Most of the suite's time is waiting (Docker deploys, health checks, lease TTLs, rolls), so the
Docker suites run beside the host suites instead of after them:

- host: everything but tests/ops, on SQLite, then the app's suite again on PostgreSQL;
- cluster: the three-node Swarm (tests/ops/test_cluster.py), then the image's tests;
- ops: the rest of tests/ops (the Compose stack, the release, pre-flight, errors).

The union is the whole suite, each test in exactly one stream. What the Docker streams share on
the engine is kept apart: each session names its stack or cluster after its own pid and takes
its ports and subnets free (stacks and clusters from separate ranges, tests/support/docker.py);
image builds and prunes take ``images.build_lock``, so the first session to need the app image
builds it and the other finds it built; a test that points the ``APP_IMAGE`` tag elsewhere for a
while holds ``support.docker.app_image_tag`` against the other stream's reads of it. Each
stream's output goes to a log, printed whole when the stream ends; the exit status is 0 only if
every stream passed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sampleapp.errors import SampleappError
from sampleapp.ops import engine

PYTEST = [sys.executable, "-m", "pytest"]
# The cluster stream: the Swarm first (its deploys are the longest waits), then the image.
CLUSTER = ("tests/ops/test_cluster.py", "tests/ops/test_images.py")
PROGRESS_EVERY = 60.0  # seconds between the lines that say where each stream is
# pytest's progress: a test file's line of outcomes, and the share of the session done.
TEST_FILE = re.compile(r"^(\S+\.py) [.FEsxX]", re.M)
DONE_SHARE = re.compile(r"\[\s*(\d+)%\]")


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

    def where(self) -> str:
        """The test file the stream runs and the share of its session done, from its log."""
        if self.process is None:
            return "FAILED" if self.failed else "done"
        text = self.log.read_text(errors="replace")[-20000:]
        files, shares = TEST_FILE.findall(text), DONE_SHARE.findall(text)
        if not files:
            return "starting"
        return f"{files[-1]} ({shares[-1] if shares else 0}%)"

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


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="sampleapp-streams-"))

    def session(name: str, *args: str) -> list[str]:
        return [*PYTEST, f"--basetemp={root / name}", "--durations=15", *args]

    streams = [
        Stream(
            "host",
            [
                (session("host", "--ignore=tests/ops"), {}),
                (session("host-postgres", "sampleapp/web"), {"SAMPLEAPP_TEST_DB": "postgres"}),
            ],
            root / "host.log",
        ),
        Stream("cluster", [(session("cluster", *CLUSTER), {})], root / "cluster.log"),
        Stream(
            "ops",
            [(session("ops", "tests/ops", *(f"--ignore={path}" for path in CLUSTER)), {})],
            root / "ops.log",
        ),
    ]
    began = time.monotonic()
    print(f"▶ Tests in three streams side by side: {', '.join(s.name for s in streams)}")
    print(
        f"  (each stream's log is printed when it ends, meanwhile in {root}; a line every "
        f"{PROGRESS_EVERY:.0f} s says where each one is)",
        flush=True,
    )
    streams[0].start()  # the host stream needs no engine
    try:
        engine.ensure_engine()  # started once here, not by two sessions at once
    except SampleappError as exc:
        print(f"✘ No Docker engine for the cluster and ops streams: {exc}", flush=True)
        for stream in streams[1:]:
            stream.failed = True
        running = streams[:1]
    else:
        for stream in streams[1:]:
            stream.start()
        running = list(streams)
    said = time.monotonic()
    while running:
        if time.monotonic() - said >= PROGRESS_EVERY:
            said = time.monotonic()
            minutes = (said - began) / 60
            where = " · ".join(f"{s.name}: {s.where()}" for s in streams)
            print(f"▶ {minutes:.0f} min: {where}", flush=True)
        for stream in list(running):
            if stream.poll():
                running.remove(stream)
                took = time.monotonic() - stream.started
                verdict = "FAILED" if stream.failed else "passed"
                print(f"\n===== stream {stream.name}: {verdict} in {took:.0f} s =====", flush=True)
                sys.stdout.write(stream.log.read_text(errors="replace"))
                sys.stdout.flush()
        time.sleep(1)
    failed = [s.name for s in streams if s.failed]
    total = time.monotonic() - began
    print(
        f"\n▶ Streams done in {total:.0f} s: "
        + (f"FAILED: {', '.join(failed)}" if failed else "all passed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
