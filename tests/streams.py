"""``make test``: every test, in three pytest runs at once, each with its own log.

Most of the suite's time is waiting: for Swarm to converge on three Docker-in-Docker machines,
for Compose to roll a service, for a lease to expire. So the suites run side by side: the
cluster, the one-host stack with the rest of the container tests, and everything without
containers (the app on SQLite then PostgreSQL, the browser, discovery, the guards). They share
nothing but the engine and its images: each stream is its own process, and the fixtures name
their Compose project, cluster, ports and subnets after it. The images are built first, once,
so that no two streams build or debootstrap at the same time.

Progress: a line when a stream starts and ends, and every minute the last line each running
stream printed. A failed stream's whole log is printed at the end; the exit status is 1 when
any failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sampleapp.ops import bases, engine, images
from sampleapp.ops.settings import REPO
from sampleapp.progress import Progress

LOG_DIR = REPO / "var" / "tests"
CLUSTER, RELEASE = "tests/ops/test_cluster.py", "tests/ops/test_release.py"
# Each stream: its name and the pytest runs it makes one after the other (extra environment,
# arguments), shared so that they take about as long.
STREAMS: dict[str, list[tuple[dict[str, str], list[str]]]] = {
    "cluster": [({}, [CLUSTER]), ({}, [RELEASE])],
    "stack": [({}, ["tests/ops", f"--ignore={CLUSTER}", f"--ignore={RELEASE}"])],
    "host": [
        ({}, ["--ignore=tests/ops"]),
        ({"SAMPLEAPP_TEST_DB": "postgres"}, ["sampleapp/web"]),
    ],
}


@dataclass
class Stream:
    name: str
    runs: list[tuple[dict[str, str], list[str]]]
    log: Path
    started: float = field(default_factory=time.monotonic)
    process: subprocess.Popen[bytes] | None = None
    failed: bool = False

    def next_run(self) -> bool:
        """Start the next pytest run; False when none is left."""
        if not self.runs:
            return False
        env, args = self.runs.pop(0)
        with self.log.open("ab") as log:
            log.write(f"$ pytest {' '.join(args)}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", *args],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return True

    def last_line(self) -> str:
        lines = self.log.read_bytes().decode(errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else "(nothing yet)"


def build_images(progress: Progress) -> None:
    """The app image, its bases and the cluster's, as `image build` and `cluster create` make
    them: built here, once, the streams find them up to date."""
    engine.ensure_engine()
    images.build_app_image(progress)
    bases.resolve(progress, (*bases.CLUSTER_BASES, bases.EDGE_BASE))


def main() -> int:
    progress = Progress(LOG_DIR / "images.log")
    progress.step("Building the images the container tests run (skipped when up to date)")
    build_images(progress)
    streams = []
    for name, runs in STREAMS.items():
        log = LOG_DIR / f"{name}.log"
        log.unlink(missing_ok=True)
        stream = Stream(name, list(runs), log)
        stream.next_run()
        streams.append(stream)
        progress.step(f"{name}: started, log {log.relative_to(REPO)}")
    running, last_report = list(streams), time.monotonic()
    while running:
        time.sleep(1)
        for stream in list(running):
            assert stream.process is not None
            code = stream.process.poll()
            if code is None:
                continue
            stream.failed |= code != 0
            if not stream.next_run():
                running.remove(stream)
                took = time.monotonic() - stream.started
                mark = "✘ failed" if stream.failed else "✔"
                progress.info(f"{mark} {stream.name} ({took:.0f} s): {stream.last_line()}")
        if running and time.monotonic() - last_report >= 60:
            last_report = time.monotonic()
            for stream in running:
                took = time.monotonic() - stream.started
                progress.info(f"… {stream.name} ({took:.0f} s): {stream.last_line()[:100]}")
    failed = [s for s in streams if s.failed]
    for stream in failed:
        print(f"\n===== {stream.name}: {stream.log} =====\n{stream.log.read_text()}", flush=True)
    if failed:
        progress.info(f"failed: {', '.join(s.name for s in failed)} (logs above and in {LOG_DIR})")
        return 1
    progress.done("every stream passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
