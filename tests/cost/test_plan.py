"""Today's price of a topology: a hand-computed example, the tiers, the flags and bad input."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from sampleapp import cli
from sampleapp.cost import prices, topology
from sampleapp.cost.commands import Options, run_plan
from sampleapp.cost.plan import Traffic, price, tiered
from sampleapp.errors import CostError

SIMPLE = {
    "date": "2026-01-15",
    "eur_per_usd": {"value": "0.5", "date": "2026-01-14", "source": "test", "confirmed": True},
    "public_ipv4": {"usd_per_hour": "0.005", "source": "test", "confirmed": True},
    "transfer_out": {
        "free_gb_per_month": 100,
        "bytes_per_gb": 1000000000,
        "source": "test",
        "confirmed": True,
        "tiers": [
            {"up_to_gb": 10240, "usd_per_gb": "0.09"},
            {"up_to_gb": 51200, "usd_per_gb": "0.085"},
            {"up_to_gb": 153600, "usd_per_gb": "0.07"},
            {"up_to_gb": None, "usd_per_gb": "0.05"},
        ],
    },
    "regions": {
        "eu-south-2": {
            "name": "Europe (Spain)",
            "ebs_gp3_usd_per_gb_month": {"value": "0.08", "source": "test", "confirmed": True},
            "instances": {
                "t3.small": {"usd_per_hour": "0.0208", "source": "test", "confirmed": True}
            },
        }
    },
}


def write(tmp_path: Path, document: object, name: str = "prices.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def book(tmp_path: Path) -> prices.PriceBook:
    return prices.load(write(tmp_path, SIMPLE))


def two_small_machines() -> topology.Topology:
    return topology.load().overridden(instance_type="t3.small", region="eu-south-2", count=2)


def test_a_plan_matches_the_hand_computed_example(book: prices.PriceBook) -> None:
    """2 x t3.small, 20 GB and one address each, 100,000 requests/h of 10,000 B, 730 h:
    compute 2 x 730 x 0.0208 = 30.368; addresses 2 x 730 x 0.005 = 7.30; storage
    40 x 0.08 = 3.20; transfer 730 GB, 100 free, 630 x 0.09 = 56.70; 97.568 a month."""
    plan = price(two_small_machines(), book, Traffic(100_000, Decimal(10_000), "test"))
    by_kind = {line.kind: line.monthly_usd for line in plan.lines}
    assert by_kind == {
        "compute": Decimal("30.368"),
        "addresses": Decimal("7.300"),
        "storage": Decimal("3.20"),
        "transfer": Decimal("56.70"),
    }
    assert plan.transfer_gb_per_month == 730
    assert plan.monthly_usd == Decimal("97.568")
    assert plan.yearly_usd == Decimal("1170.816")
    assert plan.eur(plan.yearly_usd) == Decimal("585.408")


@pytest.mark.parametrize(
    ("gb", "usd"),
    [
        ("0", "0"),
        ("100", "0"),
        ("101", "0.09"),
        ("10240", "912.60"),  # (10240 - 100) x 0.09
        ("20000", "1742.20"),  # 912.60 + 9760 x 0.085
        ("200000", "13882.20"),  # 912.60 + 40960 x 0.085 + 102400 x 0.07 + 46400 x 0.05
    ],
)
def test_transfer_is_priced_tier_by_tier_after_the_free_gb(
    book: prices.PriceBook, gb: str, usd: str
) -> None:
    assert tiered(Decimal(gb), book.transfer) == Decimal(usd)


def test_the_plan_names_the_price_file_and_its_date_and_the_rates(tmp_path: Path) -> None:
    path = write(tmp_path, SIMPLE)
    text = run_plan(Options(prices=path, region="eu-south-2", request_bytes=4000))
    assert f"Prices: {path} (dated 2026-01-15)" in text
    assert "EUR/USD 0.5 (dated 2026-01-14)" in text
    assert "3 x t3.small in eu-south-2" in text


def test_the_default_topology_is_three_machines_with_an_address_each() -> None:
    today, old = topology.load(), topology.load("thesis-2017")
    assert today.count == old.count == 3
    assert old.instance_type == "t2.micro"
    assert today.public_ipv4_per_machine == old.public_ipv4_per_machine == 1


def test_every_default_topology_is_priced_by_the_shipped_price_file() -> None:
    book = prices.load()
    for name in topology.names():
        chosen = topology.load(name)
        book.region(chosen.region).instance(chosen.instance_type)


def test_an_unknown_instance_type_names_it_and_the_known_ones(book: prices.PriceBook) -> None:
    chosen = two_small_machines().overridden(instance_type="t9.huge", region=None, count=None)
    with pytest.raises(
        CostError, match=r"unknown instance type 't9\.huge' in eu-south-2.*t3\.small"
    ):
        price(chosen, book, Traffic(1, Decimal(1), "test"))


def test_an_unknown_region_names_it_and_the_known_ones(book: prices.PriceBook) -> None:
    chosen = two_small_machines().overridden(instance_type=None, region="mars-1", count=None)
    with pytest.raises(CostError, match=r"unknown region 'mars-1'.*eu-south-2"):
        price(chosen, book, Traffic(1, Decimal(1), "test"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["public_ipv4"].update(usd_per_hour=0.005),
            r"public_ipv4\.usd_per_hour .*quoted",
        ),
        (lambda d: d.pop("transfer_out"), r"transfer_out is missing"),
        (lambda d: d["transfer_out"]["tiers"].pop(), r"tiers should rise"),
        (
            lambda d: d["regions"]["eu-south-2"]["instances"]["t3.small"].update(usd_per_hour="-1"),
            r"regions\.eu-south-2\.instances\.t3\.small\.usd_per_hour should be a number above 0",
        ),
    ],
)
def test_a_malformed_price_file_names_the_field(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(yaml.safe_dump(SIMPLE))
    change(document)
    with pytest.raises(CostError, match=message):
        prices.load(write(tmp_path, document))


def test_a_price_file_that_is_not_yaml_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("regions: [unclosed\n")
    with pytest.raises(CostError, match=f"{path} is not valid YAML"):
        prices.load(path)


@pytest.mark.parametrize("requests", [-1, 10**11])
def test_negative_or_absurd_traffic_is_refused(requests: int) -> None:
    with pytest.raises(CostError, match="requests per hour is out of range"):
        Traffic(requests, Decimal(4000), "test")


@pytest.mark.parametrize("hours", ["0", "745"])
def test_hours_beyond_a_month_are_refused(book: prices.PriceBook, hours: str) -> None:
    with pytest.raises(CostError, match="--hours"):
        price(two_small_machines(), book, Traffic(1, Decimal(1), "test"), Decimal(hours))


def test_the_cli_prints_one_error_line_for_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SIMPLE)
    assert cli.main(["cost", "plan", "--prices", str(path), "--requests-per-hour", "-5"]) == 1
    assert cli.main(["cost", "plan", "--prices", str(path), "--region", "mars-1"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "error"]
    assert "mars-1" in lines[1] and "eu-south-2" in lines[1]


def test_the_cli_reads_flags_into_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SIMPLE)
    argv = ["cost", "plan", "--prices", str(path), "--region", "eu-south-2", "--count", "2"]
    argv += ["--requests-per-hour", "1e5", "--request-bytes", "10000"]
    assert cli.main(argv) == 0
    total = capsys.readouterr().out.splitlines()[-1].split()
    assert total[:2] == ["total", "97.57"]  # the hand-computed example, rounded for display


def test_the_plan_takes_its_bytes_per_request_from_the_measured_pages_and_names_them(
    tmp_path: Path,
) -> None:
    from sampleapp.cost import pages

    sizes = pages.load()
    text = run_plan(Options())
    assert f"Pages: {sizes.path} (measured {sizes.measured}" in text
    assert f"Bytes per request: {sizes.average(gzip_on=False):,.0f}" in text
    with pytest.raises(CostError, match="make bench-cost"):
        run_plan(Options(page_sizes=tmp_path / "missing.yaml"))
