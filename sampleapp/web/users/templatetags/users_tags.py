"""Template tags for users: the Gravatar image and the follow/unfollow form."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def gravatar_for(user: Any, size: int = 50) -> SafeString:
    """The Rails helper: an md5 of the lower-cased email, ``s=<size>``, alt the name."""
    return format_html(
        '<img alt="{}" class="gravatar" src="https://secure.gravatar.com/avatar/{}?s={}">',
        user.name,
        user.gravatar_id,
        size,
    )


@register.inclusion_tag("relationships/_follow_form.html", takes_context=True)
def follow_form(context: template.Context, user: Any) -> dict[str, Any]:
    return {
        "user": user,
        "relationship": context["request"].user.relationship_with(user),
        "csrf_token": context.get("csrf_token"),
    }
