"""The terminal tables of ``sampleapp cost``: the thesis's, a plan's and a comparison's.

Text only (the CLI prints what these return); every amount is rounded here, and only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sampleapp.cost.money import cents, show, signed
from sampleapp.cost.plan import KINDS, Plan
from sampleapp.cost.thesis import Table, Thesis


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def thesis_table(t: Table) -> str:
    rows = [
        [
            r.label,
            r.detail,
            show(r.published_eur),
            show(r.recomputed_eur),
            "ok" if r.reproduces else f"DIFFERS {signed(r.difference)} €",
            "" if r.reproduces else f"implies {r.implied:.6f} {t.unit}, used {r.used} {t.unit}",
        ]
        for r in t.rows
    ]
    misses = sum(not r.reproduces for r in t.rows)
    return (
        f"Table {t.number}: {t.title}; EUR/USD {t.eur_per_usd} ({t.rate_from})\n"
        + table(["", "", "published €", "recomputed €", "", ""], rows)
        + f"\n{len(t.rows) - misses} of {len(t.rows)} rows reproduce to the cent; {misses} differ."
    )


def thesis(t: Thesis) -> str:
    return (
        f"The thesis's cost tables, recomputed from {t.path.name}\n"
        f"({t.source}; {t.region}, {t.hours_per_year} h a year)\n\n"
        f"{thesis_table(t.instances)}\n\n{thesis_table(t.transfer)}\n"
    )


def _money_cells(plan: Plan, usd: Decimal) -> list[str]:
    return [show(usd, "$"), show(usd * 12, "$"), show(plan.eur(usd * 12), "€")]


def plan(p: Plan, sizes_note: str) -> str:
    t, book = p.topology, p.book
    rows = [
        [
            line.kind + ("" if line.confirmed else " *"),
            line.what,
            *_money_cells(p, line.monthly_usd),
        ]
        for line in p.lines
    ]
    rows.append(["total", "", *_money_cells(p, p.monthly_usd)])
    unconfirmed = not all(line.confirmed for line in p.lines)
    return (
        f"Topology {t.name!r}: {t.count} x {t.instance_type} in {t.region} "
        f"({', '.join(t.machines)}), {p.hours_per_month} h a month\n"
        f"Prices: {book.path} (dated {book.date}); EUR/USD {book.eur_per_usd.usd} "
        f"(dated {book.eur_rate_date})\n"
        f"Bytes per request: {p.traffic.bytes_per_request:,.0f} ({p.traffic.source})\n"
        + (f"{sizes_note}\n" if sizes_note else "")
        + "\n"
        + table(["", "", "per month", "per year", "per year €"], rows)
        + ("\n* a price no source confirmed: see the price file" if unconfirmed else "")
        + "\n"
    )


def compare(plans: Sequence[Plan]) -> str:
    first = plans[0]
    header = [
        "per year",
        *(f"{p.topology.name} ({p.topology.count} x {p.topology.instance_type})" for p in plans),
    ]
    rows = []
    for kind in KINDS:
        cells = []
        for p in plans:
            usd = p.line(kind).yearly_usd
            share = usd / p.yearly_usd * 100 if p.yearly_usd else Decimal(0)
            cells.append(f"{show(usd, '$')} ({share:.0f}%)")
        rows.append([kind, *cells])
    rows.append(["total", *(show(p.yearly_usd, "$") for p in plans)])
    rows.append(["total €", *(show(p.eur(p.yearly_usd), "€") for p in plans)])
    return (
        f"At {first.traffic.requests_per_hour:,} requests/h of "
        f"{first.traffic.bytes_per_request:,.0f} B ({first.traffic.source}), "
        f"{first.hours_per_month} h a month; prices {first.book.path.name} "
        f"(dated {first.book.date}), EUR/USD {first.book.eur_per_usd.usd}\n\n"
        + table(header, rows)
        + f"\n\nDifference per year: {signed(cents(plans[-1].yearly_usd - first.yearly_usd))} $\n"
    )
