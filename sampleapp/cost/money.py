"""Money and sizes: ``Decimal`` amounts, rounded to the cent only when shown or compared.

The thesis's tables print euros to the cent, so a recomputed figure "reproduces" a published one
when both round to the same cent (half up, as a calculator does).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HOURS_PER_MONTH = Decimal(730)  # AWS's month: 8760 h / 12
MONTHS_PER_YEAR = 12


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def show(amount: Decimal, unit: str = "") -> str:
    """``1234.5`` as ``1,234.50`` and the unit after it (``$``, ``€``)."""
    text = f"{cents(amount):,.2f}"
    return f"{text} {unit}".rstrip()


def signed(amount: Decimal) -> str:
    return f"{cents(amount):+,.2f}"
