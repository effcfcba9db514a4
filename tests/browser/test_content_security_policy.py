"""The pages satisfy their Content-Security-Policy: Chromium reports no violation on any of them.

Headless Chromium goes through the site as a visitor does: the home page signed out, sign-up,
sign-in through its form, the home page's feed and micropost form (posting one), a profile's
Follow button (sent by the page's script with ``fetch``), the followers list, the users index,
the Account menu and the profile settings. Each blocked load or inline script or style is a
``securitypolicyviolation`` event in the page and a "Content Security Policy" message on the
console: a listener added before any page script keeps the events on ``window``, read before each
navigation, and every console message and uncaught script error is kept too.

Gravatar is answered locally with the placeholder image (this machine has no internet), so the
avatars load from ``https://secure.gravatar.com`` as in production: the policy must allow it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.users.models import User

pytestmark = pytest.mark.browser

PASSWORD = "foobar"
GRAVATAR = re.compile(r"https://secure\.gravatar\.com/.*")
AVATAR = (
    Path(__file__).resolve().parents[2] / "sampleapp" / "web" / "static" / "images" / "gravatar.svg"
).read_bytes()
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "an inline"} ` +
    `(${event.sourceFile || document.URL}:${event.lineNumber})`
  );
});
"""


class Violations:
    """What a page refused: its events, its console's policy messages, its script errors."""

    def __init__(self, page) -> None:
        self.page = page
        self.found: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.found.append(f"script error: {error}"))

    def console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.found.append(f"console {message.type}: {message.text}")

    def read(self) -> None:
        """Keep the events of the page shown now; called before it is left."""
        events = self.page.evaluate("window.cspViolations")
        self.found.extend(f"{self.page.url}: {event}" for event in events)


def test_no_page_violates_the_content_security_policy(live_server, open_browser) -> None:
    from playwright.sync_api import expect

    me = User.objects.create_user(
        name="Policy User", email="me@example.com", password=PASSWORD, activated=True
    )
    author = User.objects.create_user(
        name="Followed Author", email="author@example.com", password=PASSWORD, activated=True
    )
    stranger = User.objects.create_user(
        name="Not Followed", email="stranger@example.com", password=PASSWORD, activated=True
    )
    Micropost.objects.create(user=author, content="A post from the followed author")
    Micropost.objects.create(user=stranger, content="A post from a stranger")
    me.follow(author)
    author.follow(me)
    url = live_server.url

    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(
            GRAVATAR,
            lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=AVATAR),
        )
        page.set_default_timeout(15_000)
        violations = Violations(page)
        avatars: list[dict[str, object]] = []

        def visit(path: str) -> None:
            violations.read()
            page.goto(f"{url}{path}")

        def see_avatars() -> None:
            avatars.extend(
                page.locator("img.gravatar").evaluate_all(
                    "imgs => imgs.map(img => ({src: img.currentSrc, width: img.naturalWidth}))"
                )
            )

        page.goto(f"{url}/")
        expect(page.get_by_role("link", name="Sign up now!")).to_be_visible()

        visit("/signup")
        expect(page.get_by_role("button", name="Create my account")).to_be_visible()

        visit("/signin")
        page.get_by_label("Email").fill(me.email)
        page.get_by_label("Password").fill(PASSWORD)
        violations.read()
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="Account")).to_be_visible()

        visit("/")
        expect(page.locator("ol.microposts span.content")).to_have_text(
            ["A post from the followed author"]
        )
        see_avatars()
        page.locator("#micropost_content").fill("Posted under the policy")
        violations.read()
        page.get_by_role("button", name="Post").click()
        expect(page.locator("div.alert-success")).to_have_text("Micropost created!")

        visit(f"/users/{stranger.pk}")
        see_avatars()
        page.get_by_role("button", name="Follow").click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        expect(page.locator("#followers")).to_have_text("1")

        visit(f"/users/{me.pk}/followers")
        expect(page.locator("ul.users a", has_text="Followed Author")).to_be_visible()
        see_avatars()

        visit("/users")
        expect(page.get_by_role("heading", name="All users")).to_be_visible()
        see_avatars()
        page.get_by_role("link", name="Account").click()
        expect(page.get_by_role("link", name="Settings")).to_be_visible()

        visit(f"/users/{me.pk}/edit")
        expect(page.get_by_role("heading", name="Update your profile")).to_be_visible()
        see_avatars()
        violations.read()

    assert violations.found == [], "the Content-Security-Policy was violated:\n" + "\n".join(
        violations.found
    )
    assert me.is_following(stranger)
    assert avatars
    for avatar in avatars:
        assert GRAVATAR.match(str(avatar["src"])) and avatar["width"], avatar
