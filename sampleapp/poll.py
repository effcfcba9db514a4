"""One way to wait: :func:`poll` asks again until the answer comes or the time is up.

Every wait of the project (containers healthy, servers registered, a page answering, an engine
starting, nginx confirming its config, the database accepting connections) is this one loop. The
thing waited for names the progress line (``▶ Waiting for db to be healthy (12 s): starting …``)
and the timeout message, with the last thing seen, so a wait that fails says what it saw last.
A check may also raise at once when what it sees is final (a container that exited).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sampleapp.errors import SampleappError
from sampleapp.progress import Progress

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """Not yet; ``seen`` is what the check saw, for the progress line and the timeout."""

    seen: str = ""


PENDING = Pending()


def poll(
    what: str,
    check: Callable[[], T | Pending],
    timeout: float,
    *,
    progress: Progress | None = None,
    interval: float = 1.0,
    fail: Callable[[str], BaseException] = SampleappError,
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns something other than a
    :class:`Pending`, and return that. After ``timeout`` seconds, raise ``fail(message)``, the
    message naming ``what`` and the last thing seen. With ``progress``, ``what`` is a step whose
    line is repeated with the elapsed time and the last thing seen."""
    started = time.monotonic()
    if progress is None:
        return _loop(what, check, timeout, interval, fail, started, lambda seen: None)
    with progress.waiting(what) as ticker:
        return _loop(what, check, timeout, interval, fail, started, ticker.tick)


def _mid_sentence(what: str) -> str:
    """``Waiting for db to be healthy`` -> ``waiting for db to be healthy``."""
    return what[:1].lower() + what[1:]


def _loop(
    what: str,
    check: Callable[[], T | Pending],
    timeout: float,
    interval: float,
    fail: Callable[[str], BaseException],
    started: float,
    tick: Callable[[str], None],
) -> T:
    while True:
        got = check()
        if not isinstance(got, Pending):
            return got
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            seen = f"; last seen: {got.seen}" if got.seen else ""
            raise fail(f"Gave up after {timeout:.0f} s {_mid_sentence(what)}{seen}")
        tick(got.seen)
        time.sleep(min(interval, max(timeout - elapsed, 0.0) + 0.01))
