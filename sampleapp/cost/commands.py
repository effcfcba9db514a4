"""What each ``sampleapp cost`` subcommand does, as one function returning the text it prints.

The CLI parses flags into ``Options`` and calls these; they read the data files (price book,
topologies, page sizes), price, and format, so each can be tested without a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sampleapp.cost import pages, plot, prices, report, thesis, topology
from sampleapp.cost.money import HOURS_PER_MONTH
from sampleapp.cost.plan import Plan, Traffic, price

DEFAULT_REQUESTS_PER_HOUR = 1_000_000  # the first row of the thesis's table 4.2


@dataclass(frozen=True)
class Options:
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR
    prices: Path = prices.PRICES_FILE
    page_sizes: Path = pages.PAGE_SIZES_FILE
    topologies: Path = topology.TOPOLOGY_FILE
    request_bytes: int | None = None  # instead of the measured pages
    gzip: bool = False  # the measured pages as they would be once the proxy compresses
    instance_type: str | None = None
    region: str | None = None
    count: int | None = None
    hours: Decimal = HOURS_PER_MONTH
    plot: Path | None = None

    @classmethod
    def from_flags(cls, flags: dict[str, object]) -> Options:
        """The options among ``flags`` (argparse's namespace as a dict) that were given."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in flags.items() if k in names and v is not None})  # type: ignore[arg-type]


def run_thesis(path: Path = thesis.THESIS_FILE) -> str:
    return report.thesis(thesis.load(path))


def traffic(options: Options, requests_per_hour: int | None = None) -> tuple[Traffic, str]:
    """The traffic to price, and a line saying where its bytes per request come from."""
    rate = options.requests_per_hour if requests_per_hour is None else requests_per_hour
    if options.request_bytes is not None:
        return Traffic(rate, Decimal(options.request_bytes), "given by --request-bytes"), ""
    sizes = pages.load(options.page_sizes)
    kind = "gzip-compressed here, estimated" if options.gzip else "as the proxy serves a browser"
    names = ", ".join(
        f"{p.name} {p.gzip_estimate_bytes if options.gzip else p.served_bytes} B"
        for p in sizes.pages
    )
    note = f"Pages: {sizes.path} (measured {sizes.measured} on {sizes.machine}): {names}"
    source = f"the mean of {len(sizes.pages)} pages on the wire, {kind}"
    return Traffic(rate, sizes.average(gzip_on=options.gzip), source), note


def plan_of(options: Options, name: str | None, requests_per_hour: int | None = None) -> Plan:
    book = prices.load(options.prices)
    chosen = topology.load(name, options.topologies)
    if name is None:
        chosen = chosen.overridden(
            instance_type=options.instance_type, region=options.region, count=options.count
        )
    return price(chosen, book, traffic(options, requests_per_hour)[0], options.hours)


def run_plan(options: Options) -> str:
    return report.plan(plan_of(options, None), traffic(options)[1])


def run_compare(options: Options) -> str:
    thesis_plan = plan_of(options, "thesis-2017")
    today = plan_of(options, None)
    text = report.compare([thesis_plan, today])
    if options.plot is not None:
        plot.render(
            options.plot,
            [
                (f"{p.topology.name}: {p.topology.count} x {p.topology.instance_type}", at)
                for p, at in (
                    (thesis_plan, lambda r: plan_of(options, "thesis-2017", r)),
                    (today, lambda r: plan_of(options, None, r)),
                )
            ],
        )
        text += f"Chart: {options.plot}\n"
    note = traffic(options)[1]
    return text + (f"{note}\n" if note else "")
