# mypy: disable-error-code="no-untyped-def"
"""The Content-Security-Policy: on every page, strict, and the templates give it nothing to allow.

The browser's side (no page reports a violation) is tests/browser/test_content_security_policy.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings

from sampleapp.web.users.helpers import gravatar_for

pytestmark = pytest.mark.django_db

WEB = Path(settings.WEB_DIR)
# An inline style or script, an event handler attribute, a javascript: address.
INLINE = re.compile(
    r"<style|\sstyle=|<script(?![^>]*\ssrc=)|\son[a-z]+=|javascript:", re.IGNORECASE
)


def policy_of(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives}


@pytest.fixture
def pages(client: Client, make_user, make_micropost):
    """Each page by name, fetched signed out or, for the signed-in home page, signed in."""
    author = make_user()
    make_micropost(author)

    def get(name: str):
        if name == "home signed in":
            client.force_login(make_user())
            return client.get("/")
        paths = {
            "home signed out": "/",
            "profile": f"/users/{author.pk}",
            "sign-in": "/signin",
            "sign-up": "/signup",
            "a missing page": "/no/such/page",
        }
        return client.get(paths[name])

    return get


@pytest.mark.parametrize(
    "name", ["home signed out", "home signed in", "profile", "sign-in", "sign-up", "a missing page"]
)
def test_every_page_carries_the_content_security_policy(pages, name: str) -> None:
    response = pages(name)
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY


def test_the_policy_allows_this_site_and_gravatar_images_and_nothing_inline(client) -> None:
    policy = policy_of(client.get("/"))
    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https://secure.gravatar.com"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    sources = {source for allowed in policy.values() for source in allowed}
    assert not sources & {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"}


def test_the_gravatar_host_allowed_is_the_one_the_avatars_load_from(user) -> None:
    src = re.search(r'src="(https://[^/"]+)/', gravatar_for(user))
    assert src, gravatar_for(user)
    assert src.group(1) in policy_of(Client().get("/"))["img-src"]


def test_a_form_refused_by_a_middleware_carries_the_policy_too(client: Client) -> None:
    response = client.post(
        "/sessions", b"x=1", content_type="application/x-www-form-urlencoded; charset=latin-1"
    )
    assert response.status_code == 400
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY


class DatabaseDown:
    """A middleware whose database refuses the connection: the outage page answers."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raise OperationalError("connection refused")


def test_the_outage_page_carries_it_and_takes_its_style_from_a_static_file() -> None:
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, f"{__name__}.DatabaseDown"]):
        response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 503
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', response.content.decode())
    assert stylesheet, response.content.decode()
    css = Client().get(stylesheet.group(1))
    assert css.status_code == 200
    assert b"h1" in b"".join(css.streaming_content)  # type: ignore[attr-defined]
    css.close()


@override_settings(DEBUG=True)
def test_django_debug_pages_go_without_it_and_the_app_pages_keep_it(client: Client) -> None:
    assert "Content-Security-Policy" not in client.get("/no/such/page")
    assert client.get("/help")["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY


def test_no_template_inlines_a_style_or_a_script() -> None:
    """What the policy refuses, found before a browser would: every template of the app."""
    templates = sorted(WEB.rglob("templates/**/*.html"))
    assert len(templates) > 20
    offenders = [
        f"{path.relative_to(WEB)}: {match.group(0)}"
        for path in templates
        for match in INLINE.finditer(path.read_text())
    ]
    assert offenders == []
