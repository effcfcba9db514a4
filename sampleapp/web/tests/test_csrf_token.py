# mypy: disable-error-code="no-untyped-def"
"""The pages' CSRF token is masked by web/templating.py, not by Django: Django's middleware must
still take it as its own, on the first page a visitor sees and on every page after."""

from __future__ import annotations

import re

import pytest
from django.middleware.csrf import (  # type: ignore[attr-defined]
    CSRF_ALLOWED_CHARS,
    _unmask_cipher_token,
)
from django.test import Client, RequestFactory

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.templating import masked_csrf_token
from tests.support.html import Page

pytestmark = pytest.mark.django_db


def test_a_masked_token_unmasks_to_the_secret_and_is_new_each_time() -> None:
    request = RequestFactory().get("/")
    secret = "a" * 16 + "Z9" * 8
    request.META["CSRF_COOKIE"] = secret  # what CsrfViewMiddleware leaves for get_token
    tokens = {masked_csrf_token(request) for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) == 64 and set(token) <= set(CSRF_ALLOWED_CHARS)
        assert _unmask_cipher_token(token) == secret
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"]  # the cookie's expiry renewed, as Django


def test_the_mask_draws_every_allowed_character() -> None:
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = "x" * 32
    drawn = "".join(masked_csrf_token(request)[:32] for _ in range(200))
    assert set(drawn) == set(CSRF_ALLOWED_CHARS)


def test_a_form_posted_with_the_pages_token_is_accepted_by_djangos_check(user) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/")  # the first page makes the secret (Django's get_token) and sets its cookie
    assert "csrftoken" in browser.cookies
    page = Page(browser.get("/"))  # this page's token is masked by masked_csrf_token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.html)
    assert token is not None
    response = browser.post(
        "/microposts",
        {"csrfmiddlewaretoken": token.group(1), "micropost[content]": "Lorem ipsum"},
    )
    assert response.status_code == 302
    assert Micropost.objects.filter(user=user, content="Lorem ipsum").exists()
