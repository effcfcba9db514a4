"""Today's prices, per region, read from a dated price file (deploy/cost/prices-2026.yaml).

Every figure carries its source and whether a source stated it (``confirmed``); the plan shows
both, so an estimate is never taken for a quote. Looking up a region or an instance type that
the file does not price is a ``CostError`` that lists the ones it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sampleapp.cost import data
from sampleapp.errors import CostError

PRICES_FILE = data.DEPLOY / "cost" / "prices-2026.yaml"


@dataclass(frozen=True)
class Price:
    usd: Decimal
    source: str
    confirmed: bool


@dataclass(frozen=True)
class Tier:
    up_to_gb: Decimal | None  # None: no end
    usd_per_gb: Decimal


@dataclass(frozen=True)
class Transfer:
    free_gb_per_month: Decimal
    bytes_per_gb: int
    tiers: tuple[Tier, ...]
    source: str


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    ebs_gp3_usd_per_gb_month: Price
    instances: dict[str, Price]

    def instance(self, kind: str) -> Price:
        if kind not in self.instances:
            known = ", ".join(sorted(self.instances))
            raise CostError(
                f"unknown instance type {kind!r} in {self.code}: the price file knows {known} "
                "(add it to the price file, or give --prices FILE)"
            )
        return self.instances[kind]


@dataclass(frozen=True)
class PriceBook:
    path: Path
    date: str
    eur_per_usd: Price
    eur_rate_date: str
    public_ipv4_usd_per_hour: Price
    transfer: Transfer
    regions: dict[str, Region]

    def region(self, code: str) -> Region:
        if code not in self.regions:
            known = ", ".join(sorted(self.regions))
            raise CostError(
                f"unknown region {code!r}: the price file {self.path.name} prices {known} "
                "(add it, or give --prices FILE)"
            )
        return self.regions[code]


def _price(fields: data.Fields, key: str = "value") -> Price:
    return Price(
        fields.decimal(key, positive=True), fields.text("source"), fields.flag("confirmed")
    )


def load(path: Path = PRICES_FILE) -> PriceBook:
    root = data.Fields(data.load(path), path)
    rate = root.sub("eur_per_usd")
    return PriceBook(
        path=path,
        date=root.text("date"),
        eur_per_usd=_price(rate),
        eur_rate_date=rate.text("date"),
        public_ipv4_usd_per_hour=_price(root.sub("public_ipv4"), "usd_per_hour"),
        transfer=_transfer(root.sub("transfer_out")),
        regions={code: _region(code, fields) for code, fields in root.sub("regions").items()},
    )


def _transfer(fields: data.Fields) -> Transfer:
    tiers = []
    for tier in fields.list("tiers"):
        end = None if tier.raw("up_to_gb") is None else tier.decimal("up_to_gb", positive=True)
        tiers.append(Tier(end, tier.decimal("usd_per_gb")))
    ends = [t.up_to_gb for t in tiers]
    bounded = [e for e in ends if e is not None]
    if ends[-1] is not None or None in ends[:-1] or bounded != sorted(set(bounded)):
        raise CostError(
            f"{fields.path}: transfer_out.tiers should rise, each up_to_gb above the last, and "
            "end with one whose up_to_gb is null (no end)"
        )
    return Transfer(
        fields.decimal("free_gb_per_month"),
        fields.integer("bytes_per_gb"),
        tuple(tiers),
        fields.text("source"),
    )


def _region(code: str, fields: data.Fields) -> Region:
    instances = {kind: _price(f, "usd_per_hour") for kind, f in fields.sub("instances").items()}
    if not instances:
        raise CostError(f"{fields.path}: regions.{code}.instances prices no instance type")
    return Region(
        code, fields.text("name"), _price(fields.sub("ebs_gp3_usd_per_gb_month")), instances
    )
