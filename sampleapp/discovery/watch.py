"""An in-memory copy of one etcd prefix, kept in step by the watch API rather than by polling.

The renderer and the DNS both need "every key under a prefix, now". ``PrefixMirror`` reads the
prefix once, then watches from the next revision and applies each event. When the watch cannot be
resumed (the member died, or history was compacted past our revision) it re-reads everything, so a
missed event can never leave a stale entry behind. The callback sees a fresh dict and is called only
when the content changed; while etcd is unreachable the last content stays in force.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sampleapp.discovery.etcd import EtcdClient
from sampleapp.errors import DiscoveryError

log = logging.getLogger(__name__)


class PrefixMirror:
    """Calls ``on_change(content)`` with ``{key: value}`` under ``prefix`` whenever it changes."""

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        on_change: Callable[[dict[str, str]], None],
        *,
        idle: float = 10.0,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.on_change = on_change
        self.idle = idle
        self.synced = threading.Event()  # set once the first full read succeeded
        self.full_reads = 0
        self._content: dict[str, str] | None = None

    def start(self, stop: threading.Event) -> None:
        name = f"watch {self.prefix}"
        threading.Thread(target=self.run, args=(stop,), name=name, daemon=True).start()

    def run(self, stop: threading.Event) -> None:
        revision, must_read, backoff = 0, True, 0.5
        content: dict[str, str] = {}
        while not stop.is_set():
            try:
                if must_read:
                    kvs, revision = self.client.get_prefix(self.prefix)
                    content = {kv.key: kv.value for kv in kvs}
                    self.full_reads += 1
                    self._publish(content)
                    self.synced.set()
                    must_read, backoff = False, 0.5
                for batch in self.client.watch(self.prefix, revision + 1, idle=self.idle):
                    if stop.is_set():
                        return
                    if batch.compacted:
                        log.info(
                            "watch on %s was compacted past %d: re-reading", self.prefix, revision
                        )
                        must_read = True
                        break
                    for event in batch.events:
                        if event.kind == "put":
                            content[event.key] = event.value
                        else:
                            content.pop(event.key, None)
                        revision = max(revision, event.mod_revision)
                    self._publish(content)  # the watch yields no batch without events
                # A quiet stream ends after ``idle`` seconds; resume where we were.
            except DiscoveryError as exc:
                log.warning("watch on %s lost: %s; re-reading in %.1f s", self.prefix, exc, backoff)
                must_read = True
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _publish(self, content: dict[str, str]) -> None:
        if content == self._content:
            return
        self._content = dict(content)
        try:
            self.on_change(dict(content))
        except Exception:  # a consumer bug must not kill the watch thread silently
            log.exception("handling a change under %s failed", self.prefix)
