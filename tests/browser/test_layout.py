"""The page looks right: the Rails Tutorial's two columns, and a placeholder for a Gravatar.

A signed-in user's pages are a sidebar (``aside.span4``) beside a main column (``.span8``) in a
``.row``, as in the original on Bootstrap's grid. Headless Chromium opens the home page's feed, a
profile with its microposts and Follow/Unfollow button, and a followers list at three desktop
widths, and measures the two boxes: the main column must start to the right of the sidebar's box,
at the same top, not fall below it. Each page is saved as a full-page screenshot in
``var/screenshots/`` (git-ignored, like all of ``var/``), named ``layout-<page>-<width>.png``, to
look at.

Gravatar cannot be reached from here (nor from many networks): its requests are aborted, as a
machine with no internet would see them, and each avatar must then show the local placeholder
image (``static/images/gravatar.svg``, swapped in by ``static/js/sampleapp.js``), drawn at the
size the page asked Gravatar for, not a broken-image icon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.users.models import User

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
GRAVATAR = re.compile(r"https://secure\.gravatar\.com/.*")
PASSWORD = "foobar"
WIDTHS = [1024, 1280, 1600]
PAGES = ["home", "profile", "followers"]


@dataclass(frozen=True)
class Site:
    me: User
    paths: dict[str, str]


@pytest.fixture
def site(live_server) -> Site:
    """A signed-in user's pages with content in both columns.

    ``me`` follows an author with posts, and is followed by the author and two others: the feed
    has posts of both, the author's profile has microposts and an Unfollow button, and the
    followers list has three users.
    """
    me = User.objects.create_user(
        name="Layout User", email="me@example.com", password=PASSWORD, activated=True
    )
    author = User.objects.create_user(
        name="Followed Author", email="author@example.com", password=PASSWORD, activated=True
    )
    others = [
        User.objects.create_user(
            name=f"Follower {n}",
            email=f"follower{n}@example.com",
            password=PASSWORD,
            activated=True,
        )
        for n in (1, 2)
    ]
    for n in range(3):
        Micropost.objects.create(user=me, content=f"My post number {n}")
        Micropost.objects.create(user=author, content=f"The author's post number {n}")
    me.follow(author)
    for follower in [author, *others]:
        follower.follow(me)
    return Site(
        me=me,
        paths={
            "home": "/",
            "profile": f"/users/{author.pk}",
            "followers": f"/users/{me.pk}/followers",
        },
    )


def sign_in(page, base_url: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Account")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_the_main_column_sits_beside_the_sidebar_at_desktop_widths(
    live_server, open_browser, site: Site, name: str, width: int
) -> None:
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.route(GRAVATAR, lambda route: route.abort())
        page.set_default_timeout(15_000)
        sign_in(page, live_server.url, site.me.email)

        page.goto(f"{live_server.url}{site.paths[name]}")
        page.wait_for_load_state("load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"layout-{name}-{width}.png", full_page=True)
        sidebar = page.locator(".row > aside.span4").bounding_box()
        main = page.locator(".row > .span8").bounding_box()

    assert sidebar is not None and main is not None
    assert main["height"] > 0 and sidebar["height"] > 0
    assert main["x"] >= sidebar["x"] + sidebar["width"], (
        f"the main column starts at x={main['x']}, inside the sidebar "
        f"(x={sidebar['x']}..{sidebar['x'] + sidebar['width']})"
    )
    assert main["y"] == pytest.approx(sidebar["y"], abs=1), (
        f"the main column's top is at y={main['y']}, the sidebar's at y={sidebar['y']}"
    )
    assert main["x"] + main["width"] <= width


@pytest.mark.parametrize("name", PAGES)
def test_a_gravatar_that_cannot_load_shows_the_local_placeholder(
    live_server, open_browser, site: Site, name: str
) -> None:
    from playwright.sync_api import expect

    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(GRAVATAR, lambda route: route.abort())
        page.set_default_timeout(15_000)
        sign_in(page, live_server.url, site.me.email)

        page.goto(f"{live_server.url}{site.paths[name]}")
        gravatars = page.locator("img.gravatar")
        expect(gravatars.first).to_be_visible()
        # Polls until every avatar has an image drawn: the placeholder, since Gravatar failed.
        page.wait_for_function(
            """() => [...document.querySelectorAll("img.gravatar")]
                       .every(img => img.complete && img.naturalWidth > 0)"""
        )
        avatars = gravatars.evaluate_all(
            """imgs => imgs.map(img => ({
                 src: img.currentSrc,
                 asked: img.dataset.gravatar || "",
                 width: img.getBoundingClientRect().width,
                 height: img.getBoundingClientRect().height,
               }))"""
        )

    assert avatars
    for avatar in avatars:
        assert avatar["src"] == f"{live_server.url}/static/images/gravatar.svg"
        asked = re.search(r"[?&]s=(\d+)", avatar["asked"])
        assert asked, f"no Gravatar address kept in data-gravatar: {avatar}"
        size = int(asked.group(1))
        assert (avatar["width"], avatar["height"]) == (size, size)
