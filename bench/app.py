"""Benchmark the application server (issue 12): what each page costs, and where the time goes.

CPU milliseconds per request is the figure that survives a noisy machine: the CPU time of the app
server's processes (gunicorn's master and worker, utime + stime from /proc) and, on PostgreSQL,
of the database server's, read before and after ``wrk`` runs, divided by the requests it counted.
Latency and throughput follow from it.

For each database (SQLite, then a throw-away PostgreSQL from Debian's binaries,
tests/support/postgres.py), a fresh database gets the sample data and ``sampleapp serve`` runs in
production mode. Signed in as the example user through the real form, four pages are measured
with one worker at one connection (``ROUNDS`` rounds of ``SECONDS`` s each, every round in a new
server process, the median kept with the lowest and highest round): CPU per request, p50 and p99;
then with two workers (the deployed default) at 16 connections: requests per second. Beside them,
gunicorn alone around a bare WSGI function (bench/floor.py): the part of every page's cost that is
the server's. On PostgreSQL the data then grows to 1,000 users and 100,000 microposts
(``populate --scale``) and the feed and profile are measured again, with the database's query
plans. The profile's top entries come from cProfile around the feed page, in process. The pages'
bytes on the wire, with and without ``Accept-Encoding: gzip``, are read through the deployments'
nginx (sampleapp/cost/pages.py counts them). Last, ``/help`` during a burst of wrong sign-ins
(bench/burst.py).
"""

from __future__ import annotations

import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import burst
from bench.measure import sign_in, wrk
from bench.report import table, write_section
from bench.server import (
    ROOT,
    app_env,
    behind_nginx,
    prepare,
    start_server,
    stop_server,
    wait_ready,
)
from sampleapp.cost import pages as wire
from tests.support.etcd import free_port
from tests.support.postgres import PostgresServer

ROUNDS = 5  # each in a new server process
SECONDS = 5  # per page per round, one connection
THROUGHPUT_SECONDS = 10  # per page, 16 connections
THROUGHPUT_CONNECTIONS = 16
# name, path, signed in, what the page must show, the target (CPU ms per request)
PAGES = (
    ("Home, signed out", "/", False, "Welcome to the Sample App", None),
    ("Home with feed, signed in", "/", True, "Micropost Feed", 3.0),
    ("Users index page 1, signed in", "/users", True, "All users", 2.5),
    ("Profile /users/1, signed in", "/users/1", True, "Microposts (", 2.5),
)
SCALED = PAGES[1], PAGES[3]
PROFILE_REQUESTS = 300
PROFILE_TOP = 15
TICK = os.sysconf("SC_CLK_TCK")
VISIBLE_PAGES = "SELECT relallvisible, relpages FROM pg_class WHERE relname = 'microposts'"


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (those that have gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def children(parent: int) -> list[int]:
    found = [parent]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


class Database:
    """SQLite in the data directory, or a throw-away PostgreSQL server; ``pids()`` are the
    processes whose CPU counts as the database's (none for SQLite: it runs in the app)."""

    def __init__(self, kind: str, data: Path) -> None:
        self.kind, self.server = kind, None
        self.url = f"sqlite:///{data / 'db.sqlite3'}"
        if kind == "postgresql":
            self.server = PostgresServer().start()
            with psycopg.connect(self.server.url.replace("/sampleapp", "/postgres")) as c:
                c.autocommit = True
                c.execute("CREATE DATABASE sampleapp")
            self.url = self.server.url

    def pids(self) -> list[int]:
        if self.server is None:
            return []
        postmaster = int((self.server.data / "postmaster.pid").read_text().split()[0])
        return children(postmaster)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def settle(self) -> None:
        """What a database does soon after a bulk load: statistics, the visibility map that lets
        PostgreSQL read from an index alone (autovacuum), and a checkpoint, which writes out the
        load's dirty pages. Without it the pages measured right after the load cost more: the
        scaled feed 3.23 ms of app and 1.73 ms of database CPU a request, twice in a row, then
        2.77 and 1.50 after a CHECKPOINT (the same database and server, 2026-12-04)."""
        if self.server is None:
            return
        with psycopg.connect(self.server.url, autocommit=True) as c:
            # Right after the load, VACUUM may not mark the new rows' pages visible to all yet
            # (a snapshot older than them was still open): again, until it has.
            deadline = time.monotonic() + 120
            while True:
                c.execute("VACUUM (FREEZE, ANALYZE)")
                visible, pages = c.execute(VISIBLE_PAGES).fetchone()  # type: ignore[misc]
                if visible >= pages or time.monotonic() > deadline:
                    break
                time.sleep(1)
            c.execute("CHECKPOINT")

    def plans(self, user_id: int) -> str:
        """EXPLAIN ANALYZE of the feed's and the profile's queries, for the example user."""
        from sampleapp.web import reads

        queries = (
            ("feed count", reads.FEED_COUNT, [user_id, user_id]),
            ("feed, first page", f"{reads.FEED_PAGE_POSTGRESQL} LIMIT 30", [user_id, user_id, 30]),
            ("profile with its counts", reads.PROFILE, [user_id]),
            ("profile, first page", f"{reads.POSTS_PAGE} LIMIT 30", [user_id]),
        )
        assert self.server is not None
        out = []
        with psycopg.connect(self.server.url) as c:
            for name, sql, params in queries:
                rows = c.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params).fetchall()
                out.append(f"{name}:\n" + "\n".join(r[0] for r in rows))
        return "\n\n".join(out)


@contextmanager
def serving(env: dict[str, str], log: Path, workers: int) -> Iterator[tuple[str, list[int]]]:
    """``sampleapp serve --workers N``; yields its URL and its processes' ids."""
    base, server = start_server(env, log, "--workers", str(workers))
    try:
        wait_ready(base, server)
        session = subprocess.run(["pgrep", "-s", str(server.pid)], capture_output=True, text=True)
        yield base, [int(p) for p in session.stdout.split()]
    finally:
        stop_server(server)


def cost(
    url: str, cookie: str | None, app: list[int], db: Callable[[], list[int]]
) -> dict[str, float]:
    """One ``wrk`` run at one connection, with the CPU per request of the app and the database."""
    db_pids = db()
    before = cpu_seconds(app), cpu_seconds(db_pids)
    r = wrk(url, 1, SECONDS, cookie)
    app_ms = (cpu_seconds(app) - before[0]) * 1000 / r["requests"]
    db_ms = (cpu_seconds(db_pids) - before[1]) * 1000 / r["requests"]
    return {**r, "app_ms": app_ms, "db_ms": db_ms}


def check_pages(base: str, cookie: str, pages: tuple[tuple, ...]) -> None:  # type: ignore[type-arg]
    for name, path, signed_in, shows, _ in pages:
        page = httpx.get(base + path, headers={"Cookie": cookie} if signed_in else {}).text
        if shows not in page:
            raise SystemExit(f"{name}: {path} does not show {shows!r}")


def page_costs(env: dict[str, str], db: Database, log: Path, pages: tuple) -> list[dict]:  # type: ignore[type-arg]
    """Each page's median over ROUNDS rounds at one connection, one worker, with its lowest and
    highest round. Each round is a new server process: on this machine one process measured the
    same page 20-30% above or below the next one, so rounds in one process agree too well."""
    runs: dict[str, list[dict[str, float]]] = {p[0]: [] for p in pages}
    for n in range(ROUNDS):
        with serving(env, log, 1) as (base, app):
            cookie = sign_in(base)
            check_pages(base, cookie, pages)
            for _, path, signed_in, _, _ in pages:
                wrk(base + path, 2, 2, cookie if signed_in else None)  # warm up
            for name, path, signed_in, _, _ in pages:
                print(f"▶ {db.kind}, round {n + 1}/{ROUNDS} (a new server): {name}")
                runs[name].append(cost(base + path, cookie if signed_in else None, app, db.pids))
    return [summary(p, runs[p[0]]) for p in pages]


def summary(page: tuple, found: list[dict[str, float]]) -> dict:  # type: ignore[type-arg]
    """The median of each figure over the rounds, and the lowest and highest app CPU."""
    app_ms = [r["app_ms"] for r in found]
    medians = {k: statistics.median(r[k] for r in found) for k in found[0]}
    return {"page": page, **medians, "low": min(app_ms), "high": max(app_ms)}


FLOOR_APP = "bench.floor:app"


def server_floor(log: Path) -> dict:  # type: ignore[type-arg]
    """What gunicorn alone costs, as ``sampleapp serve`` runs it (gthread, 4 threads, one
    worker), around a WSGI function that returns the signed-out home page's size in bytes."""
    runs = []
    for n in range(ROUNDS):
        port = free_port()
        with log.open("a") as out:
            server = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", "--worker-class", "gthread"),
                    *("--threads", "4", "--workers", "1", "--bind", f"127.0.0.1:{port}"),
                    *("--no-control-socket", FLOOR_APP),
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server)
            session = subprocess.run(
                ["pgrep", "-s", str(server.pid)], capture_output=True, text=True
            )
            pids = [int(p) for p in session.stdout.split()]
            wrk(base + "/", 2, 2, None)
            print(f"▶ gunicorn alone, round {n + 1}/{ROUNDS}")
            runs.append(cost(base + "/", None, pids, lambda: []))
        finally:
            stop_server(server)
    return summary(("gunicorn alone, a WSGI function", "/", False, "", None), runs)


def throughput(env: dict[str, str], db: Database, log: Path) -> dict[str, float]:
    """Requests per second of each page at 16 connections, two workers (the deployed default)."""
    found = {}
    with serving(env, log, 2) as (base, _):
        cookie = sign_in(base)
        for name, path, signed_in, _, _ in PAGES:
            print(f"▶ {db.kind}, {THROUGHPUT_CONNECTIONS} connections, 2 workers: {name}")
            page_cookie = cookie if signed_in else None
            wrk(base + path, 2, 2, page_cookie)
            found[name] = wrk(base + path, THROUGHPUT_CONNECTIONS, THROUGHPUT_SECONDS, page_cookie)[
                "rps"
            ]
    return found


PROFILE_CHILD = """
import cProfile, io, logging, pstats, sys
import django
django.setup()
logging.getLogger("sampleapp.requests").setLevel(logging.WARNING)
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from sampleapp import demo
from sampleapp.web.users.models import User
client = Client(HTTP_HOST="127.0.0.1")  # an allowed host: the CSRF cookie is set
client.force_login(User.objects.get(email=demo.EMAIL))
client.get("/")  # a browser's cookies: the CSRF cookie too, not only the session's
cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
app = WSGIHandler()
def get():
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": cookie, "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
    body = b"".join(app(environ, lambda status, headers: None))
    assert b"Micropost Feed" in body
for _ in range(50):
    get()
profile = cProfile.Profile()
profile.runcall(lambda: [get() for _ in range(int(sys.argv[1]))])
pstats.Stats(profile).dump_stats(sys.argv[2])
"""


def profiled(env: dict[str, str], data: Path) -> str:
    """The top entries of cProfile around the signed-in feed page, per request, by own time."""
    out = data / "feed.prof"
    print(f"▶ cProfile around {PROFILE_REQUESTS} requests of the signed-in feed")
    subprocess.run(
        [sys.executable, "-c", PROFILE_CHILD, str(PROFILE_REQUESTS), str(out)],
        env=env,
        cwd=ROOT,
        check=True,
    )
    stats = pstats.Stats(str(out))
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:PROFILE_TOP]  # type: ignore[attr-defined]
    rows = [
        [
            f"`{short(file)}:{line}({function})`",
            f"{calls / PROFILE_REQUESTS:.0f}",
            f"{own / PROFILE_REQUESTS * 1000:.3f}",
            f"{own / total:.0%}",
        ]
        for (file, line, function), (_, calls, own, _, _) in entries
    ]
    return (
        f"Under cProfile a request takes {total / PROFILE_REQUESTS * 1000:.1f} ms (the profiler "
        "multiplies the cost of each call). Own time, per request:\n\n"
        + table(["function", "calls", "ms", "share"], rows)
    )


def short(path: str) -> str:
    for marker in ("site-packages/", "python3.11/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def page_sizes(env: dict[str, str], data: Path) -> list[list[object]]:
    """Each page's bytes on the wire through the deployments' nginx, with and without gzip."""
    rows: list[list[object]] = []
    with serving(env, data / "server.log", 2) as (app, _), behind_nginx(app, data) as base:
        cookie = sign_in(base)
        for name, path, signed_in, _, _ in PAGES:
            size = wire.measure(base, name, path, cookie if signed_in else None)
            encoding = size.served_encoding or "none"
            rows.append([name, f"{size.identity_bytes:,}", f"{size.served_bytes:,}", encoding])
    return rows


def run(kind: str, load: list[float]) -> dict[str, object]:
    """Everything measured on one database, in a fresh data directory removed afterwards."""
    data = Path(tempfile.mkdtemp(prefix=f"sampleapp-bench-{kind}-"))
    data.chmod(0o755)  # nginx's workers may run as nobody
    db = Database(kind, data)
    found: dict[str, object] = {}
    try:
        env = {**app_env(data, "bench"), "DATABASE_URL": db.url}
        print(f"▶ {kind}: a fresh database with the sample data")
        prepare(env)
        db.settle()
        log = data / "server.log"
        found["costs"] = page_costs(env, db, log, PAGES)
        if kind == "sqlite":
            found["floor"] = server_floor(log)
        load.append(os.getloadavg()[0])
        found["rps"] = throughput(env, db, log)
        if kind == "sqlite":
            found["profile"] = profiled(env, data)
            found["sizes"] = page_sizes(env, data)
            found["burst"] = burst.help_during_a_sign_in_burst(env, log)
        else:
            found["plans"] = db.plans(1)
            print("▶ populate --scale: 1,000 users, 100,000 microposts")
            prepare(env, "--scale")
            db.settle()
            found["scaled"] = page_costs(env, db, log, SCALED)
            found["scaled_plans"] = db.plans(1)
    finally:
        db.stop()
        shutil.rmtree(data, ignore_errors=True)
    return found


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's `wrk` package (make system-deps)")
    load = [os.getloadavg()[0]]
    sqlite, postgres = run("sqlite", load), run("postgresql", load)
    write_section("app", "Application (gunicorn)", report(sqlite, postgres, load))


def ms(value: float) -> str:
    return f"{value:.2f}"


def report(sqlite: dict, postgres: dict, load: list[float]) -> str:  # type: ignore[type-arg]
    rows = []
    costs = [("SQLite", c) for c in sqlite["costs"]] + [
        ("PostgreSQL", c) for c in postgres["costs"]
    ]
    for kind, c in [*costs, ("none", sqlite["floor"])]:
        name, target = c["page"][0], c["page"][4]
        met = "" if target is None else ("yes" if c["app_ms"] <= target else "no")
        rows.append(
            [
                name,
                kind,
                ms(c["app_ms"]),
                f"{ms(c['low'])} to {ms(c['high'])}",
                ms(c["db_ms"]),
                ms(c["p50"]),
                ms(c["p99"]),
                target or "",
                met,
            ]
        )
    rps = [
        [name, f"{sqlite['rps'][name]:.0f}", f"{postgres['rps'][name]:.0f}"] for name, *_ in PAGES
    ]
    scaled = []
    for before, after in zip(postgres["costs"][1::2], postgres["scaled"], strict=True):
        was, now = before["app_ms"] + before["db_ms"], after["app_ms"] + after["db_ms"]
        scaled.append(
            [
                before["page"][0],
                ms(before["app_ms"]),
                ms(after["app_ms"]),
                ms(was),
                ms(now),
                f"{now / was:.2f}x",
                "yes" if now <= 1.5 * was else "no",
                ms(before["p50"]),
                ms(after["p50"]),
            ]
        )
    return (
        f"`sampleapp serve` (gunicorn gthread, 4 threads a worker), `SAMPLEAPP_ENV=production`, "
        f"loopback, signed in as the example user through the form. `wrk -t1 --latency` after a "
        f"warm-up. CPU ms per request: the app server's processes (and PostgreSQL's) over "
        f"{SECONDS} s at one connection, one worker, the median of {ROUNDS} rounds, each round a "
        f"new server process; the lowest and highest round beside it. The last row is gunicorn "
        f"alone, run the same way around a WSGI function returning as many bytes as the "
        f"signed-out home page (bench/floor.py): what any page pays before Django starts. Load "
        f"average (1 min) before, after SQLite's pages, after PostgreSQL's: "
        + " / ".join(f"{x:.1f}" for x in load[:3])
        + ".\n\n"
        + table(
            [
                "Page",
                "Database",
                "app CPU ms/req",
                "lowest to highest round",
                "DB CPU ms/req",
                "p50 ms",
                "p99 ms",
                "target (app)",
                "met",
            ],
            rows,
        )
        + f"\n\nRequests per second, two workers (the deployed default), "
        f"{THROUGHPUT_CONNECTIONS} connections, {THROUGHPUT_SECONDS} s:\n\n"
        + table(["Page", "SQLite", "PostgreSQL"], rps)
        + "\n\n### The feed at scale (PostgreSQL)\n\n`populate --scale`: 1,000 users, 100,000 "
        "microposts, 18,087 relationships; the example user's feed grows from 250 microposts to "
        "5,000 (49 followed users and their own, 100 each). Goal: app + database CPU per "
        "request no more than 1.5x the sample data's.\n\n"
        + table(
            [
                "Page",
                "app ms, sample",
                "app ms, scaled",
                "app+DB ms, sample",
                "app+DB ms, scaled",
                "ratio",
                "met",
                "p50 ms, sample",
                "p50 ms, scaled",
            ],
            scaled,
        )
        + "\n\nQuery plans (`EXPLAIN (ANALYZE, COSTS OFF)`, example user), sample data:\n\n```\n"
        + postgres["plans"]
        + "\n```\n\nScaled:\n\n```\n"
        + postgres["scaled_plans"]
        + "\n```\n"
        + "\n### Where the feed's time goes\n\n"
        + sqlite["profile"]
        + "\n\n### Bytes on the wire\n\nThrough the deployments' nginx, SQLite, each page once, "
        "every byte of the response counted (sampleapp/cost/pages.py):\n\n"
        + table(
            ["Page", "no Accept-Encoding", "Accept-Encoding: gzip", "Content-Encoding"],
            sqlite["sizes"],
        )
        + "\n\n### /help during a burst of wrong sign-ins\n\n"
        + sqlite["burst"]
    )


if __name__ == "__main__":
    main()
