"""The thesis's tables 4.1 and 4.2, recomputed from their inputs and set beside the published.

Table 4.1 prices a year of one instance running all day (hourly price x 8760 h x EUR/USD); table
4.2 prices a year of data transfer through elastic IPs (requests/h x 4 kB x 8760 h x $/GB x
EUR/USD). The inputs and the published figures are in deploy/cost/thesis-2017.yaml, each with
where it comes from; a row whose published figure its inputs do not give to the cent is marked,
with the difference and the hourly or per-GB price the published figure implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sampleapp.cost import data
from sampleapp.cost.money import cents

THESIS_FILE = data.DEPLOY / "cost" / "thesis-2017.yaml"


@dataclass(frozen=True)
class Row:
    """One row of a table: what it prices, the published and the recomputed euros."""

    label: str
    detail: str
    published_eur: Decimal
    recomputed_eur: Decimal
    implied: Decimal  # the unit price (USD per hour or per GB) the published figure implies
    used: Decimal  # the unit price the recomputation used

    @property
    def difference(self) -> Decimal:
        """Published minus recomputed, both to the cent: 0 when the row reproduces."""
        return self.published_eur - cents(self.recomputed_eur)

    @property
    def reproduces(self) -> bool:
        return self.difference == 0


@dataclass(frozen=True)
class Table:
    number: str
    title: str
    eur_per_usd: Decimal
    rate_from: str
    unit: str  # of ``Row.implied``: "$/h" or "$/GB"
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Thesis:
    path: Path
    source: str
    region: str
    hours_per_year: Decimal
    instances: Table
    transfer: Table
    request_bytes: int
    bytes_per_gb: int


def load(path: Path = THESIS_FILE) -> Thesis:
    """Read the inputs and recompute both tables."""
    root = data.Fields(data.load(path), path)
    hours = root.decimal("hours_per_year", positive=True)
    return Thesis(
        path=path,
        source=root.text("source"),
        region=root.text("region"),
        hours_per_year=hours,
        instances=instance_table(root.sub("instances"), hours),
        transfer=transfer_table(root.sub("transfer"), hours),
        request_bytes=root.sub("transfer").sub("request_bytes").integer("value"),
        bytes_per_gb=root.sub("transfer").sub("bytes_per_gb").integer("value"),
    )


def priced(
    label: str, detail: str, published: Decimal, units: Decimal, price: Decimal, rate: Decimal
) -> Row:
    """A row costing ``units`` (hours, or GB) a year at ``price`` dollars each, in euros at
    ``rate``, and the unit price the published figure implies."""
    return Row(label, detail, published, units * price * rate, published / (units * rate), price)


def instance_table(fields: data.Fields, hours: Decimal) -> Table:
    rate = fields.sub("eur_per_usd").decimal("value", positive=True)
    rows = []
    for row in fields.list("rows"):
        price = row.decimal("usd_per_hour", positive=True)
        published = row.decimal("published_eur")
        memory = row.text("memory_gib")
        rows.append(
            priced(
                row.text("type"),
                f"{row.integer('vcpu')} vCPU, {memory} GiB, {row.text('storage')}",
                published,
                hours,
                price,
                rate,
            )
        )
    return Table(
        "4.1",
        "Annual cost per instance type, on all day (EUR)",
        rate,
        fields.sub("eur_per_usd").text("from"),
        "$/h",
        tuple(rows),
    )


def transfer_table(fields: data.Fields, hours: Decimal) -> Table:
    rate = fields.sub("eur_per_usd").decimal("value", positive=True)
    size = fields.sub("request_bytes").integer("value")
    per_gb = fields.sub("bytes_per_gb").integer("value")
    price = fields.sub("usd_per_gb").decimal("value", positive=True)
    rows = []
    for row in fields.list("rows"):
        requests = row.integer("requests_per_hour")
        gb_per_hour = Decimal(requests * size) / per_gb
        published = row.decimal("published_eur")
        published_gb = row.decimal("published_gb_per_hour")
        rows.append(
            priced(
                f"{requests:,}/h",
                f"{gb_per_hour:f} GB/h (thesis: {published_gb:f})",
                published,
                gb_per_hour * hours,
                price,
                rate,
            )
        )
    return Table(
        "4.2",
        "Annual data transfer per instance through elastic IPs, 4 kB a request (EUR)",
        rate,
        fields.sub("eur_per_usd").text("from"),
        "$/GB",
        tuple(rows),
    )
