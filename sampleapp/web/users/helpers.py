"""``gravatar_for``: the Rails helper's avatar image, an md5 of the lower-cased email.

Called once per listed user or micropost, so it is one f-string (``Markup.format`` took five
times as long): the hash comes with the user (``gravatar_id``) and only the name is escaped.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape


def gravatar_for(user: Any, size: int = 50) -> Markup:
    """``s=<size>``, alt the name (the helper's defaults)."""
    return Markup(
        f'<img alt="{escape(user.name)}" class="gravatar" '
        f'src="https://secure.gravatar.com/avatar/{user.gravatar_id}?s={int(size)}">'
    )
