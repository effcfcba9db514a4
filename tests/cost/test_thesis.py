"""The thesis's tables 4.1 and 4.2 recomputed from their inputs, against the published figures."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from sampleapp.cost import thesis
from sampleapp.cost.commands import run_thesis
from sampleapp.cost.money import cents, signed
from sampleapp.errors import CostError

# Chapter 4 of the thesis as printed (Carolina Santana Martel, ULPGC, July 2017), quoted whole.
CHAPTER_4 = Path(__file__).with_name("thesis-chapter-4.txt")
TABLE_4_2_DIFFERS = {"2,000,000/h", "64,000,000/h", "128,000,000/h"}  # README, "What it costs"
TABLE_4_1_REPRODUCES = {"m3.large", "m3.xlarge", "m4.large"}


@pytest.fixture(scope="module")
def tables() -> thesis.Thesis:
    return thesis.load()


def spanish(amount: str) -> Decimal:
    return Decimal(amount.replace(".", "").replace(",", "."))


def test_the_published_figures_are_the_ones_printed_in_the_thesis(tables: thesis.Thesis) -> None:
    text = CHAPTER_4.read_text(encoding="utf-8")
    chapter = text[text.index("Aspectos Económicos") : text.index("Resultados y Conclusiones\n")]
    printed_41 = [
        spanish(m)
        for m in re.findall(r"\tEBS\t([\d.,]+)|SSD [^\t]+\t([\d.,]+)", chapter)
        for m in m
        if m
    ]
    printed_42 = [
        (int(a) * 10 ** int(b), int(gb), spanish(eur))
        for a, b, gb, eur in re.findall(r"\$(\d+) \* 10\^(\d)\$\t(\d+)\t([\d.,]+)", chapter)
    ]
    assert printed_41 == [r.published_eur for r in tables.instances.rows]
    assert [(r, e) for r, _, e in printed_42] == [
        (int(row.label.removesuffix("/h").replace(",", "")), row.published_eur)
        for row in tables.transfer.rows
    ]
    assert "3983 B, que serán tomados como 4 kB" in chapter
    assert tables.request_bytes == 4000
    gb_per_hour = [gb for _, gb, _ in printed_42]
    assert gb_per_hour == [
        r * tables.request_bytes // tables.bytes_per_gb for r, _, _ in printed_42
    ]


def test_table_4_2_reproduces_to_the_cent_but_for_the_rows_the_readme_names(
    tables: thesis.Thesis,
) -> None:
    rows = tables.transfer.rows
    assert len(rows) == 8
    assert {r.label for r in rows if not r.reproduces} == TABLE_4_2_DIFFERS
    for row in rows:
        requests = int(row.label.removesuffix("/h").replace(",", ""))
        by_hand = (
            Decimal(requests * 4000) / 10**9 * 8760 * Decimal("0.01") * tables.transfer.eur_per_usd
        )
        assert row.recomputed_eur == by_hand
        if row.reproduces:
            assert cents(row.recomputed_eur) == row.published_eur


def test_table_4_1_reproduces_to_the_cent_only_the_rows_the_readme_names(
    tables: thesis.Thesis,
) -> None:
    rows = tables.instances.rows
    assert len(rows) == 10
    assert {r.label for r in rows if r.reproduces} == TABLE_4_1_REPRODUCES
    for row in rows:
        assert row.recomputed_eur == row.used * 8760 * tables.instances.eur_per_usd


def test_the_transfer_rate_is_the_one_the_first_row_of_table_4_2_gives(
    tables: thesis.Thesis,
) -> None:
    first = tables.transfer.rows[0]
    from_first_row = first.published_eur / (4 * 8760 * Decimal("0.01"))
    assert abs(from_first_row - tables.transfer.eur_per_usd) < Decimal("0.000015")


def test_a_row_that_differs_is_marked_with_the_difference_and_the_price_it_implies(
    tables: thesis.Thesis,
) -> None:
    printed = run_thesis()
    for table in (tables.instances, tables.transfer):
        for row in table.rows:
            line = next(line for line in printed.splitlines() if line.startswith(row.label + " "))
            if row.reproduces:
                assert line.rstrip().endswith("ok")
            else:
                assert row.difference == row.published_eur - cents(row.recomputed_eur) != 0
                assert f"DIFFERS {signed(row.difference)} €" in line
                assert f"implies {row.implied:.6f}" in line


def test_a_thesis_file_with_a_bad_rate_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = thesis.THESIS_FILE.read_text().replace('"0.9173045"', "nine", 1)
    broken = tmp_path / "thesis.yaml"
    broken.write_text(text)
    with pytest.raises(CostError, match=r"transfer\.eur_per_usd\.value should be a number"):
        thesis.load(broken)
