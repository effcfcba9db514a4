"""The template engine: Jinja2 through Django's backend, with the helpers the pages call.

Django's own engine resolves every ``{{ variable }}`` at run time, a few microseconds each: the
profile of the signed-in feed (docs/BENCHMARKS.md) spent two thirds of the page's CPU there,
thirty microposts of a dozen lookups each. Jinja2 compiles each template to a Python function
once per process, which renders the same page several times faster. Pages are escaped (``.html``)
and mails are not (``.txt``); blocks leave no blank lines behind (``trim_blocks``,
``lstrip_blocks``), so indentation in the templates costs no bytes on the wire.
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.templatetags.static import static as static_url
from django.utils.functional import SimpleLazyObject
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from sampleapp.web.microposts.helpers import micropost_items
from sampleapp.web.pages.helpers import full_title
from sampleapp.web.users.helpers import gravatar_for, user_items


@cache
def static(path: str) -> str:
    """A static file's URL (its hashed name in production), looked up once per process."""
    return static_url(path)


def csrf(request: HttpRequest) -> dict[str, Any]:
    """``csrf_token`` and ``csrf_input`` masked once per page, when a page first uses them
    (Django's backend masks the token anew at each use, and a page that never uses it sets no
    CSRF cookie)."""
    token = SimpleLazyObject(lambda: masked_csrf_token(request))
    field = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
    return {
        "csrf_token": token,
        "csrf_input": SimpleLazyObject(lambda: Markup(field.format(token))),
    }


def masked_csrf_token(request: HttpRequest) -> str:
    """Django's ``get_token``, with the mask drawn from one call to the OS instead of 32.

    Django draws each of the mask's 32 characters with ``SystemRandom.choice``, one
    ``os.urandom`` each: 40-90 µs of every signed-in page here, more than any of its queries. This
    mask comes from ``secrets.token_bytes``, bytes past the last multiple of 62 dropped so that
    every character stays equally likely; the cipher is Django's, so its middleware unmasks and
    checks the token as its own. As ``get_token``, it marks the cookie for renewal, and leaves
    a request without a secret yet to Django, which makes one.
    """
    secret = request.META.get("CSRF_COOKIE")
    if secret is None:
        return get_token(request)
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True
    mask = ""
    while len(mask) < CSRF_SECRET_LENGTH:
        drawn = secrets.token_bytes(CSRF_SECRET_LENGTH)
        mask += "".join(CSRF_ALLOWED_CHARS[b % _CHARS] for b in drawn if b < _UNBIASED)
    mask = mask[:CSRF_SECRET_LENGTH]
    pairs = zip(secret, mask, strict=True)
    return mask + "".join(CSRF_ALLOWED_CHARS[(_INDEX[s] + _INDEX[m]) % _CHARS] for s, m in pairs)


_CHARS = len(CSRF_ALLOWED_CHARS)
_UNBIASED = 256 - 256 % _CHARS
_INDEX = {c: i for i, c in enumerate(CSRF_ALLOWED_CHARS)}


def environment(**options: Any) -> Environment:
    options["autoescape"] = select_autoescape(["html"], default_for_string=True)
    env = Environment(trim_blocks=True, lstrip_blocks=True, **options)
    env.globals.update(
        static=static,
        full_title=full_title,
        gravatar_for=gravatar_for,
        micropost_items=micropost_items,
        user_items=user_items,
    )
    return env
