"""The bytes a page costs on the wire, measured against the real app behind its nginx."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bench import cost as bench_cost
from sampleapp.cost import pages


@pytest.fixture(scope="module")
def measured() -> tuple[list[pages.PageSize], dict[str, int]]:
    if shutil.which("nginx") is None:
        pytest.fail("nginx not found: install Debian's nginx-light (make system-deps)")
    with bench_cost.proxied_app() as base:
        sizes = bench_cost.measure_pages(base)
        bodies = {"home": len(httpx.get(base + "/").content)}
        bodies["profile"] = len(httpx.get(base + "/users/1").content)
    return sizes, bodies


@pytest.mark.slow
def test_each_page_is_measured_through_the_proxy_head_and_body(
    measured: tuple[list[pages.PageSize], dict[str, int]],
) -> None:
    sizes, bodies = measured
    by_name = {p.name: p for p in sizes}
    assert [(p.name, p.path, p.signed_in) for p in sizes] == [
        ("home", "/", False),
        ("profile", "/users/1", False),
        ("feed", "/", True),
    ]
    for name, body in bodies.items():
        head = by_name[name].identity_bytes - body
        assert 150 < head < 2000, (name, head)  # a status line and headers, nothing else
    assert by_name["feed"].identity_bytes > by_name["home"].identity_bytes  # the feed's posts


@pytest.mark.slow
def test_the_proxy_compresses_every_page_for_a_client_that_asks(
    measured: tuple[list[pages.PageSize], dict[str, int]],
) -> None:
    for page in measured[0]:
        assert page.served_encoding == "gzip"
        assert page.served_bytes < page.identity_bytes
        assert page.gzip_body_bytes < page.gzip_estimate_bytes < page.identity_bytes


@pytest.mark.slow
def test_measured_sizes_are_saved_and_read_back_as_the_plan_uses_them(
    measured: tuple[list[pages.PageSize], dict[str, int]], tmp_path: Path
) -> None:
    sizes = measured[0]
    path = tmp_path / "page-sizes.yaml"
    pages.save(path, "2026-12-03 12:00 UTC", "test machine", sizes, "how")
    loaded = pages.load(path)
    assert loaded.pages == tuple(sizes)
    assert loaded.average(gzip_on=False) == Decimal(sum(p.served_bytes for p in sizes)) / 3
    assert loaded.average(gzip_on=True) == Decimal(sum(p.gzip_estimate_bytes for p in sizes)) / 3


def test_the_shipped_page_sizes_file_reads(tmp_path: Path) -> None:
    sizes = pages.load()
    assert {p.name for p in sizes.pages} == {"home", "profile", "feed"}
    assert sizes.average(gzip_on=True) < sizes.average(gzip_on=False)
