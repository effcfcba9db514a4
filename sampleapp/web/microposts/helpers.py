"""``time_ago_in_words``: Rails' distance_of_time_in_words, for "Posted 5 minutes ago.".

A template filter (registered in ``web/templating.py``), as the Rails helper of the same name."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

MINUTES_IN_DAY = 1440
MINUTES_IN_MONTH = 43200
MINUTES_IN_YEAR = 525600


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def time_ago_in_words(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    minutes = round(((now or timezone.now()) - moment).total_seconds() / 60)
    if minutes <= 1:
        return "less than a minute" if minutes <= 0 else "1 minute"
    if minutes < 45:
        return f"{minutes} minutes"
    if minutes < 90:
        return "about 1 hour"
    if minutes < MINUTES_IN_DAY:
        return f"about {round(minutes / 60)} hours"
    if minutes < 2520:
        return "1 day"
    if minutes < MINUTES_IN_MONTH:
        return f"{round(minutes / MINUTES_IN_DAY)} days"
    if minutes < 2 * MINUTES_IN_MONTH:
        return "about 1 month"
    if minutes < MINUTES_IN_YEAR:
        return f"{round(minutes / MINUTES_IN_MONTH)} months"
    years, rest = divmod(minutes, MINUTES_IN_YEAR)
    if rest < MINUTES_IN_YEAR // 4:
        return f"about {_plural(years, 'year')}"
    if rest < MINUTES_IN_YEAR * 3 // 4:
        return f"over {_plural(years, 'year')}"
    return f"almost {_plural(years + 1, 'year')}"
