"""How many bytes a page costs on the wire, measured against the real app through its proxy.

``wire`` sends one GET over a plain socket and counts every byte that comes back (status line,
headers and body as sent, chunk framing included), with and without ``Accept-Encoding: gzip``.
The proxy compresses (nginx's gzip, issue 12); each body is also gzip-compressed here (level 6),
the estimate ``cost plan --gzip`` prices. ``bench/cost.py`` (``make bench-cost``) runs it against
gunicorn behind the deployments' nginx and writes deploy/cost/page-sizes.yaml, which
``sampleapp cost plan`` reads for its bytes per request.
"""

from __future__ import annotations

import gzip
import socket
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sampleapp.cost import data
from sampleapp.errors import CostError

PAGE_SIZES_FILE = data.DEPLOY / "cost" / "page-sizes.yaml"
GZIP_LEVEL = 6
GZIP_HEADER = b"Content-Encoding: gzip\r\n"


@dataclass(frozen=True)
class Wire:
    """One response: its head (status line and headers) and its body as they came."""

    status: int
    head_bytes: int
    body_bytes: int
    content_encoding: str | None
    body: bytes  # decoded from chunked framing, not from gzip

    @property
    def total(self) -> int:
        return self.head_bytes + self.body_bytes


@dataclass(frozen=True)
class PageSize:
    name: str
    path: str
    signed_in: bool
    identity_bytes: int  # on the wire, without Accept-Encoding
    served_bytes: int  # on the wire, with Accept-Encoding: gzip (what browsers send)
    served_encoding: str | None  # the Content-Encoding the proxy answered with, if any
    gzip_body_bytes: int  # the body compressed here, level GZIP_LEVEL
    gzip_estimate_bytes: int  # head + Content-Encoding header + gzip body: once gzip is on


def wire(base: str, path: str, *, cookie: str | None = None, accept_gzip: bool = False) -> Wire:
    """GET ``path`` from ``base`` (http://host:port) with ``Connection: close``; every byte."""
    url = urlsplit(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    lines += ["Accept-Encoding: gzip"] if accept_gzip else []
    lines += [f"Cookie: {cookie}"] if cookie else []
    with socket.create_connection((url.hostname, url.port or 80), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise CostError(f"{base}{path} answered no complete HTTP response ({len(raw)} bytes)")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    decoded = _dechunk(body) if headers.get("transfer-encoding") == "chunked" else body
    return Wire(
        status=int(status_line.split()[1]),
        head_bytes=len(head) + len(sep),
        body_bytes=len(body),
        content_encoding=headers.get("content-encoding"),
        body=decoded,
    )


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def measure(base: str, name: str, path: str, cookie: str | None = None) -> PageSize:
    plain = wire(base, path, cookie=cookie)
    served = wire(base, path, cookie=cookie, accept_gzip=True)
    for response in (plain, served):
        if response.status != 200:
            raise CostError(f"{base}{path} answered {response.status}: expected 200")
    compressed = len(gzip.compress(plain.body, compresslevel=GZIP_LEVEL, mtime=0))
    return PageSize(
        name=name,
        path=path,
        signed_in=cookie is not None,
        identity_bytes=plain.total,
        served_bytes=served.total,
        served_encoding=served.content_encoding,
        gzip_body_bytes=compressed,
        gzip_estimate_bytes=plain.head_bytes + len(GZIP_HEADER) + compressed,
    )


@dataclass(frozen=True)
class PageSizes:
    path: Path
    measured: str
    machine: str
    pages: tuple[PageSize, ...]

    def average(self, *, gzip_on: bool) -> Decimal:
        """Mean bytes on the wire of one request: as served today, or once gzip is on."""
        sizes = [p.gzip_estimate_bytes if gzip_on else p.served_bytes for p in self.pages]
        return Decimal(sum(sizes)) / len(sizes)


def save(path: Path, measured: str, machine: str, pages: list[PageSize], how: str) -> None:
    document: dict[str, Any] = {
        "measured": measured,
        "machine": machine,
        "how": how,
        "gzip_level": GZIP_LEVEL,
        "pages": [asdict(p) for p in pages],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100), encoding="utf-8")


def load(path: Path = PAGE_SIZES_FILE) -> PageSizes:
    if not path.exists():
        raise CostError(f"{path} does not exist: run `make bench-cost` to measure the pages")
    root = data.Fields(data.load(path), path)
    pages = []
    for page in root.list("pages"):
        encoding = page.raw("served_encoding")
        pages.append(
            PageSize(
                name=page.text("name"),
                path=page.text("path"),
                signed_in=page.flag("signed_in"),
                identity_bytes=page.integer("identity_bytes"),
                served_bytes=page.integer("served_bytes"),
                served_encoding=None if encoding is None else str(encoding),
                gzip_body_bytes=page.integer("gzip_body_bytes"),
                gzip_estimate_bytes=page.integer("gzip_estimate_bytes"),
            )
        )
    return PageSizes(path, root.text("measured"), root.text("machine"), tuple(pages))
