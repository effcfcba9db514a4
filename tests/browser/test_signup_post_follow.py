"""A real browser: sign up, follow the activation mail's link, post, follow in place with
JavaScript, and see the feed (the mail goes through a real SMTP server, ``mailbox``).

Headless Chromium (Debian's ``chromium``) drives the app served by pytest-django's live server.
The follow button must flip and the followers count change without a page load: the test marks
the window before clicking and checks the mark is still there afterwards. Gravatar requests are
answered locally with nothing, since this machine has no internet.
"""

from __future__ import annotations

import re

import pytest

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.users.models import User

pytestmark = pytest.mark.browser


def test_sign_up_activate_post_follow_and_see_the_feed(live_server, open_browser, mailbox) -> None:
    from playwright.sync_api import expect

    author = User.objects.create_user(
        name="Followed Author", email="author@example.com", password="foobar", activated=True
    )
    Micropost.objects.create(user=author, content="A post from the followed author")
    profile = f"{live_server.url}/users/{author.pk}"

    with open_browser() as browser:
        page = browser.new_page()
        page.route(re.compile(r"https://secure\.gravatar\.com/.*"), lambda route: route.abort())
        page.set_default_timeout(15_000)

        page.goto(f"{live_server.url}/signup")
        page.get_by_label("Name").fill("Browser User")
        page.get_by_label("Email").fill("browser@example.com")
        page.get_by_label("Password", exact=True).fill("secret1")
        page.get_by_label("Confirmation").fill("secret1")
        page.get_by_role("button", name="Create my account").click()
        expect(page.locator("div.alert-notice")).to_have_text(
            "Please check your email to activate your account."
        )
        page.goto(mailbox.link("browser@example.com", "account_activations"))
        expect(page.locator("div.alert-success")).to_have_text("Account activated!")
        expect(page).to_have_title("Ruby on Rails Tutorial Sample App | Browser User")

        page.get_by_role("link", name="Home").click()
        page.locator("#micropost_content").fill("Hello from a real browser")
        page.get_by_role("button", name="Post").click()
        expect(page.locator("div.alert-success")).to_have_text("Micropost created!")
        expect(page.locator("ol.microposts span.content").first).to_have_text(
            "Hello from a real browser"
        )

        page.goto(profile)
        expect(page.locator("#followers")).to_have_text("0")
        page.evaluate("window.notReloaded = true")
        page.get_by_role("button", name="Follow").click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        expect(page.locator("#followers")).to_have_text("1")
        assert page.evaluate("window.notReloaded") is True
        assert page.url == profile

        page.get_by_role("button", name="Unfollow").click()
        expect(page.get_by_role("button", name="Follow")).to_be_visible()
        expect(page.locator("#followers")).to_have_text("0")
        page.get_by_role("button", name="Follow").click()
        expect(page.locator("#followers")).to_have_text("1")
        assert page.evaluate("window.notReloaded") is True

        page.get_by_role("link", name="Home").click()
        feed = page.locator("ol.microposts span.content")
        expect(feed).to_have_text(["Hello from a real browser", "A post from the followed author"])

    follower = User.objects.get(email="browser@example.com")
    assert follower.is_following(author)
