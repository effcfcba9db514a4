"""The chart of ``sampleapp cost compare --plot FILE.svg``: cost a month against requests/h.

matplotlib is an optional extra (``pip install 'sampleapp[cost]'``), imported here only, and
only when a chart is asked for; the container image installs sampleapp without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sampleapp.cost.plan import Plan
from sampleapp.errors import CostError

RATES = tuple(int(10 ** (3 + i / 4)) for i in range(0, 25))  # 1,000 to 1,000,000,000 a hour


def render(path: Path, series: Sequence[tuple[str, Callable[[int], Plan]]]) -> None:
    """One line per ``(name, plan at a given requests/h)``, monthly USD, log-log, as SVG."""
    if path.suffix.lower() != ".svg":
        raise CostError(f"--plot {path}: give a file name ending in .svg")
    try:
        import matplotlib

        matplotlib.use("svg")
        matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: the names can be read
        from matplotlib import pyplot
    except ImportError as exc:
        raise CostError(
            "--plot needs matplotlib: pip install -e '.[cost]' (it is in the dev extra too)"
        ) from exc
    figure, axes = pyplot.subplots(figsize=(8, 5))
    for name, plan_at in series:
        plans = [plan_at(rate) for rate in RATES]
        axes.plot(RATES, [float(p.monthly_usd) for p in plans], marker=".", label=name)
    first = series[0][1](RATES[0])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(f"requests per hour ({first.traffic.bytes_per_request:,.0f} B each)")
    axes.set_ylabel("USD per month")
    axes.set_title(f"sampleapp on AWS: prices of {first.book.date}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path, format="svg", metadata={"Date": None})
    except OSError as exc:
        raise CostError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        pyplot.close(figure)
