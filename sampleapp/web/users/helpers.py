"""The user helpers the templates call (registered in ``web/templating.py``): ``gravatar_for``,
the Rails helper's avatar image (an md5 of the lower-cased email), and ``user_items``, the
``<li>`` of each user in a list.

Both are called for every row of a list, so both are f-strings (``Markup.format`` took five
times as long, and a template included per row five times as long again): ids are integers, the
hash comes with the user (``gravatar_id``), and only the name is escaped, by the standard
library's ``html.escape`` (a plain string, at half the cost of markupsafe's ``Markup``).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from markupsafe import Markup


def gravatar_for(user: Any, size: int = 50) -> Markup:
    """``s=<size>``, alt the name (the helper's defaults)."""
    return Markup(
        f'<img alt="{escape(user.name)}" class="gravatar" '
        f'src="https://secure.gravatar.com/avatar/{user.gravatar_id}?s={int(size)}">'
    )


def user_items(users: Iterable[Any], viewer_id: int | None, admin: bool) -> Markup:
    """The ``<li>`` of each user: avatar and name; an admin sees a delete button (for the page's
    one delete form, ``shared/_delete_form.html``) on everyone but themselves."""
    items = []
    for user in users:
        items.append(
            f'<li>\n{gravatar_for(user, 52)}\n<a href="/users/{user.pk}">{escape(user.name)}</a>\n'
        )
        if admin and user.pk != viewer_id:
            items.append(
                f'|\n<button type="submit" form="delete" formaction="/users/{user.pk}" '
                'class="link">delete</button>\n'
            )
        items.append("</li>\n")
    return Markup("".join(items))
