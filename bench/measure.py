"""What the benchmarks share: a signed-in session, ``wrk`` and its table rows.

Every figure in docs/BENCHMARKS.md about pages comes through :func:`wrk` (one thread, ``--latency``,
p50/p99 read from its latency distribution, any non-2xx or socket error fails the run), so the
app, stack and cluster figures are measured the same way.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

import httpx

from sampleapp import demo
from tests.support import site

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def sign_in(base: str) -> str:
    """The Cookie header of a session signed in as the example user, through the form."""
    with httpx.Client(base_url=base, verify=site.trust()) as client:
        form = client.get("/signin").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        if token is None:
            raise SystemExit("no CSRF token on /signin")
        response = client.post(
            "/sessions",
            headers={
                "Origin": base
            },  # as a browser sends: over HTTPS, Django's CSRF check wants it
            data={
                "csrfmiddlewaretoken": token.group(1),
                "session[email]": demo.EMAIL,
                "session[password]": demo.PASSWORD,
            },
        )
        if response.status_code != 302 or "sessionid" not in client.cookies:
            raise SystemExit(f"sign-in failed: {response.status_code}")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        if "Micropost Feed" not in client.get("/", headers={"Cookie": cookie}).text:
            raise SystemExit("the signed-in home page has no feed")
        return cookie


def wrk(url: str, connections: int, seconds: int, cookie: str | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors for {url}:\n{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    result["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        result[f"p{pct}"] = float(value) * UNITS[unit]
    return result


def timed(what: str, action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    elapsed = time.monotonic() - started
    print(f"✔ {what}: {elapsed:.1f} s")
    return elapsed


def page_rows(
    base: str, cookie: str, label: object, connections: tuple[int, ...], seconds: int
) -> list[list[object]]:
    """The home page signed out and the feed signed in, each at every connection count."""
    rows: list[list[object]] = []
    for page, page_cookie in (("Home, signed out", None), ("Feed, signed in", cookie)):
        wrk(base + "/", 2, 2, page_cookie)  # warm up
        for n in connections:
            print(f"▶ wrk {seconds} s, {n} conn., {label}: {page}")
            r = wrk(base + "/", n, seconds, page_cookie)
            rows.append(
                [page, label, n, f"{r['rps']:.0f}", f"{r['p50']:.2f} ms", f"{r['p99']:.2f} ms"]
            )
    return rows
