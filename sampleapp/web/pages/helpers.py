"""``full_title``: the page title of every page, as the Rails ApplicationHelper built it."""

from __future__ import annotations

BASE_TITLE = "Ruby on Rails Tutorial Sample App"


def full_title(page_title: str = "") -> str:
    return f"{BASE_TITLE} | {page_title}" if page_title else BASE_TITLE
