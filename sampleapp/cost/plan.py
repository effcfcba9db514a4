"""The monthly and yearly price of a topology at a given traffic, from a price book.

Four lines, as AWS bills them: instance hours, EBS gp3 storage (GB-month), public IPv4 addresses
(per address-hour, elastic IPs included, since February 2024) and data transfer out to the
Internet (tiered per month, after the free 100 GB). Transfer is requests/h x bytes per request
x hours; a year is twelve such months, as the tiers are monthly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sampleapp.cost.money import HOURS_PER_MONTH, MONTHS_PER_YEAR
from sampleapp.cost.prices import PriceBook, Transfer
from sampleapp.cost.topology import Topology
from sampleapp.errors import CostError

MAX_REQUESTS_PER_HOUR = 10**10  # 2.8 million a second: past it, a figure is a typo
MAX_BYTES_PER_REQUEST = 100 * 1024 * 1024
MAX_HOURS_PER_MONTH = Decimal(744)  # 31 days
KINDS = ("compute", "addresses", "storage", "transfer")


@dataclass(frozen=True)
class Traffic:
    requests_per_hour: int
    bytes_per_request: Decimal
    source: str  # where bytes_per_request comes from

    def __post_init__(self) -> None:
        if not 0 <= self.requests_per_hour <= MAX_REQUESTS_PER_HOUR:
            raise CostError(
                f"{self.requests_per_hour:,} requests per hour is out of range: give 0 to "
                f"{MAX_REQUESTS_PER_HOUR:,} (10^10, about 2.8 million a second)"
            )
        if not 0 < self.bytes_per_request <= MAX_BYTES_PER_REQUEST:
            raise CostError(
                f"{self.bytes_per_request} bytes per request is out of range: give 1 to "
                f"{MAX_BYTES_PER_REQUEST:,}"
            )


@dataclass(frozen=True)
class Line:
    kind: str  # one of KINDS
    what: str
    monthly_usd: Decimal
    confirmed: bool

    @property
    def yearly_usd(self) -> Decimal:
        return self.monthly_usd * MONTHS_PER_YEAR


@dataclass(frozen=True)
class Plan:
    topology: Topology
    book: PriceBook
    traffic: Traffic
    hours_per_month: Decimal
    transfer_gb_per_month: Decimal
    lines: tuple[Line, ...]

    @property
    def monthly_usd(self) -> Decimal:
        return sum((line.monthly_usd for line in self.lines), Decimal(0))

    @property
    def yearly_usd(self) -> Decimal:
        return self.monthly_usd * MONTHS_PER_YEAR

    def eur(self, usd: Decimal) -> Decimal:
        return usd * self.book.eur_per_usd.usd

    def line(self, kind: str) -> Line:
        return next(line for line in self.lines if line.kind == kind)


def tiered(gb: Decimal, transfer: Transfer) -> Decimal:
    """USD for ``gb`` in one month: each tier's GB at its price, the first free GB at none."""
    cost, start = Decimal(0), Decimal(0)
    for tier in transfer.tiers:
        end = gb if tier.up_to_gb is None else min(gb, tier.up_to_gb)
        billable = end - max(start, transfer.free_gb_per_month)
        if billable > 0:
            cost += billable * tier.usd_per_gb
        if tier.up_to_gb is None or gb <= tier.up_to_gb:
            break
        start = tier.up_to_gb
    return cost


def price(
    topology: Topology,
    book: PriceBook,
    traffic: Traffic,
    hours_per_month: Decimal = HOURS_PER_MONTH,
) -> Plan:
    if not 0 < hours_per_month <= MAX_HOURS_PER_MONTH:
        raise CostError(
            f"--hours {hours_per_month}: give the hours a month the machines run, 1 to 744"
        )
    region = book.region(topology.region)
    instance = region.instance(topology.instance_type)
    n, hours = topology.count, hours_per_month
    addresses = n * topology.public_ipv4_per_machine
    storage = n * topology.ebs_gb_per_machine
    ebs = region.ebs_gp3_usd_per_gb_month
    gb = Decimal(traffic.requests_per_hour) * traffic.bytes_per_request * hours
    gb /= book.transfer.bytes_per_gb
    lines = (
        Line(
            "compute",
            f"{n} x {topology.instance_type} x {hours:f} h at ${instance.usd}/h",
            n * hours * instance.usd,
            instance.confirmed,
        ),
        Line(
            "addresses",
            f"{addresses} public IPv4 x {hours:f} h at ${book.public_ipv4_usd_per_hour.usd}/h",
            addresses * hours * book.public_ipv4_usd_per_hour.usd,
            book.public_ipv4_usd_per_hour.confirmed,
        ),
        Line(
            "storage",
            f"{storage} GB gp3 at ${ebs.usd}/GB-month",
            storage * ebs.usd * hours / HOURS_PER_MONTH,
            ebs.confirmed,
        ),
        Line(
            "transfer",
            f"{gb:,.1f} GB out ({traffic.requests_per_hour:,} requests/h x "
            f"{traffic.bytes_per_request:,.0f} B), first {book.transfer.free_gb_per_month} GB free",
            tiered(gb, book.transfer),
            True,
        ),
    )
    return Plan(topology, book, traffic, hours, gb, lines)
