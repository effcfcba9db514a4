"""The thesis's 2017 topology beside today's, as a table and as an SVG chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sampleapp.cost.commands import Options, plan_of, run_compare
from sampleapp.cost.money import show
from sampleapp.errors import CostError

SVG = "{http://www.w3.org/2000/svg}"


def test_compare_shows_where_the_money_goes_for_both_at_the_same_traffic() -> None:
    options = Options(requests_per_hour=250_000, request_bytes=6000)
    text = run_compare(options)
    old, today = plan_of(options, "thesis-2017"), plan_of(options, None)
    assert old.traffic == today.traffic
    assert "thesis-2017 (3 x t2.micro)" in text and "today (3 x t3.small)" in text
    for kind in ("compute", "addresses", "storage", "transfer"):
        row = next(line for line in text.splitlines() if line.startswith(kind))
        assert show(old.line(kind).yearly_usd, "$") in row
        assert show(today.line(kind).yearly_usd, "$") in row
    assert old.line("addresses").yearly_usd == today.line("addresses").yearly_usd > 0


def test_the_plot_is_a_well_formed_svg_naming_both_series(tmp_path: Path) -> None:
    chart = tmp_path / "cost.svg"
    text = run_compare(Options(request_bytes=4000, plot=chart))
    assert f"Chart: {chart}" in text
    root = ET.parse(chart).getroot()
    assert root.tag == f"{SVG}svg"
    words = " ".join(t for t in root.itertext())
    assert "thesis-2017: 3 x t2.micro" in words
    assert "today: 3 x t3.small" in words
    assert len(root.findall(f".//{SVG}path")) > 10


def test_the_plot_wants_an_svg_file_name(tmp_path: Path) -> None:
    with pytest.raises(CostError, match=r"\.svg"):
        run_compare(Options(request_bytes=4000, plot=tmp_path / "cost.png"))
