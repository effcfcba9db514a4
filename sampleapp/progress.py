"""Progress lines for long operations, and a log file that keeps the whole story.

Each step prints one line (``▶ Waiting for db to be healthy (12 s) …``); under GitHub Actions a
step becomes a ``::group::`` so the log folds. Everything printed, and the output of every command
run through :func:`Progress.log`, also goes to a log file whose path is printed on failure, so an
error message can stay one line and the evidence is still one ``less`` away.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class Progress:
    def __init__(self, log_path: Path | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.actions = os.environ.get("GITHUB_ACTIONS") == "true"
        self.log_path = log_path
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        self._group_open = False

    def _emit(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
        self.log(line)

    def log(self, text: str) -> None:
        """Write to the log file only (command output, details)."""
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(text if text.endswith("\n") else text + "\n")

    def step(self, message: str) -> None:
        if self.actions:
            if self._group_open:
                print("::endgroup::", file=self.stream, flush=True)
            print(f"::group::{message}", file=self.stream, flush=True)
            self._group_open = True
            self.log(f"▶ {message}")
        else:
            self._emit(f"▶ {message}")

    def info(self, message: str) -> None:
        self._emit(f"  {message}")

    @contextmanager
    def waiting(self, what: str, every: float = 10.0) -> Iterator[WaitTicker]:
        """A step whose line is repeated with the elapsed time while it lasts."""
        ticker = WaitTicker(self, what, every)
        self.step(f"{what} …")
        yield ticker

    def done(self, message: str) -> None:
        if self.actions and self._group_open:
            print("::endgroup::", file=self.stream, flush=True)
            self._group_open = False
        self._emit(f"✔ {message}")


class WaitTicker:
    """Reprints a waiting step every ``every`` seconds: ``▶ Waiting for db (12 s) …``."""

    def __init__(self, progress: Progress, what: str, every: float) -> None:
        self.progress, self.what, self.every = progress, what, every
        self.started = self.last = time.monotonic()

    def tick(self, detail: str = "") -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            extra = f": {detail}" if detail else ""
            self.progress.step(f"{self.what} ({now - self.started:.0f} s){extra} …")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
