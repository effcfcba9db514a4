"""The waits the Compose stack and the cluster share.

Every deployment ends on the same question, whatever runs it: does the published port answer the
home page with a 200. Asked with ``poll`` like every other wait, so a deployment that never gets
there says what it saw last (a refused connection, a 502 from the proxy, a 503 page).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress


def wait_serving(
    url: str, progress: Progress, timeout: float, fail: Callable[[str], Exception]
) -> None:
    """Until ``url`` answers 200; ``fail(message)`` is raised after ``timeout`` seconds."""

    def check() -> bool | Pending:
        try:
            status = httpx.get(url, timeout=5, trust_env=False).status_code
        except httpx.HTTPError as exc:
            return Pending(f"{type(exc).__name__}: {exc}")
        return True if status == 200 else Pending(f"HTTP {status}")

    poll(
        f"Waiting for the proxy to serve {url}",
        check,
        timeout,
        progress=progress,
        interval=0.5,
        fail=fail,
    )
