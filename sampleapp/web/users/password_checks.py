"""A cap on the password hashes one process runs at once, so that a burst of sign-ins leaves
the other requests their threads and cores.

A password hash (PBKDF2, 1,000,000 iterations: about 0.2 s of a core) releases the GIL, so each
thread that hashes takes a core of its own. ``sampleapp serve`` runs 2 gunicorn workers of 4
threads: 16 parallel wrong sign-ins used to fill all 8 threads with hashes, and ``/help`` waited
for one of them to finish (1.7 s on 2 cores). The throttle (``throttle.py``) admits 20 attempts
per address before it refuses without hashing, so it could not prevent that; this does.

``password_check()`` wraps each hash of an anonymous form (sign-in, sign-up): at most
``THROTTLE_PASSWORD_CHECKS`` (1) run at once in a process; as many more may wait for a slot, for
at most ``THROTTLE_PASSWORD_WAIT`` seconds (2); any other raises ``Busy`` at once, and the
throttled view answers 429, "try again in a few seconds", without hashing or counting the
attempt (``busy()`` lets it refuse before any query). With the defaults at most 2 of a worker's
4 threads are ever on password work, only one of them hashing. A legitimate sign-in that
arrives during another's hash waits for it (a fraction of a second); only while more arrive
together than the server hashes is one asked to retry, e.g. during the seconds a flood of wrong
passwords takes to reach the throttle's limits (a flood from many addresses can keep sign-in
busy longer, but no longer the rest of the site). Other hashes (changing one's password when
signed in, a reset link's new password) are not capped: they need a session or a mailed token.

The cap is per process, not per machine: 2 workers may hash on 2 cores at once. The benchmark
(``make bench-app``, docs/BENCHMARKS.md) shows that is enough on 2 cores: ``/help`` is no
slower during the hashes than beside any 16 busy clients.

State is per process and made at import: gunicorn loads the app in each worker after the fork
(no ``preload_app``), and ``os.register_at_fork`` makes it anew in any child forked later, so no
lock or slot held at a fork is ever inherited.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings


class Busy(Exception):
    """Every password check slot of this process is taken and enough others wait for one."""


class Gate:
    """At most ``slots`` holders at once; up to ``slots`` more wait, each at most ``wait`` s."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.condition = threading.Condition()
        self.running = 0
        self.waiting = 0

    def full(self, slots: int) -> bool:
        """Every slot taken and as many waiting: one more would be refused."""
        return self.running >= slots and self.waiting >= slots

    def acquire(self, slots: int, wait: float) -> bool:
        with self.condition:
            if self.full(slots):
                return False
            self.waiting += 1
            try:
                free = self.condition.wait_for(lambda: self.running < slots, wait)
            finally:
                self.waiting -= 1
            if free:
                self.running += 1
            return free

    def release(self) -> None:
        with self.condition:
            self.running -= 1
            self.condition.notify()


gate = Gate()
os.register_at_fork(after_in_child=gate.reset)


def busy() -> bool:
    """Would a password check be refused now? (Read without the lock: a hint, which lets a view
    refuse before doing any work; ``password_check()`` decides.)"""
    return gate.full(settings.THROTTLE_PASSWORD_CHECKS)


@contextmanager
def password_check() -> Iterator[None]:
    """Hold one of this process's password check slots for the block, or raise ``Busy``."""
    if not gate.acquire(settings.THROTTLE_PASSWORD_CHECKS, settings.THROTTLE_PASSWORD_WAIT):
        raise Busy
    try:
        yield
    finally:
        gate.release()
