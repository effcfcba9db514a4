"""Drive the microblog over HTTP like a browser without JavaScript: sign in, post, read the feed.

Used by the tests and benchmarks that go through a load balancer, where Django's test client
cannot reach: it keeps cookies, sends the CSRF token from each form, and follows redirects.
"""

from __future__ import annotations

import re
import secrets
import ssl
from pathlib import Path

import httpx

from sampleapp import demo

DEMO_EMAIL, DEMO_PASSWORD = demo.LOGIN
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# The proxy's page cache (deploy/nginx/nginx.conf.j2) never answers a request carrying a session
# cookie. A test or benchmark that must reach an app server with a page (to see which one answers
# it, X-Served-By, or that one answers at all during a roll) sends this; it signs no one in.
PAST_THE_PAGE_CACHE = {"Cookie": "sessionid=none"}


def csrf_token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


# The deployments' certificates (self-signed, made by `up`) that this test session trusts: the
# fixtures that deploy add theirs.
CERTIFICATES: list[Path] = []


def trust() -> ssl.SSLContext:
    """The system's authorities and every deployment certificate made so far."""
    context = ssl.create_default_context()
    for cert in CERTIFICATES:
        if cert.exists():
            context.load_verify_locations(cafile=str(cert))
    return context


def client(base_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, timeout=20, trust_env=False, follow_redirects=True, verify=trust()
    )


def sign_in(http: httpx.Client, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> None:
    token = csrf_token(http.get("/signin").text)
    response = http.post(
        "/sessions",
        data={"csrfmiddlewaretoken": token, "session[email]": email, "session[password]": password},
        headers={"Referer": str(http.base_url.join("/signin"))},
    )
    assert response.status_code == 200 and "Sign out" in response.text, response.text[:500]


def post_micropost(http: httpx.Client, content: str) -> httpx.Response:
    token = csrf_token(http.get("/").text)
    return http.post(
        "/microposts",
        data={"csrfmiddlewaretoken": token, "micropost[content]": content},
        headers={"Referer": str(http.base_url)},
    )


def demo_user_posts_and_sees_it_in_the_feed(base_url: str, where: str) -> str:
    """Sign in as the example user, post a unique micropost, check the feed shows it; returns it."""
    content = f"Hello from the {where} test {secrets.token_hex(4)}"
    with client(base_url) as http:
        sign_in(http)
        response = post_micropost(http, content)
        assert response.status_code == 200
        assert "Micropost created!" in response.text
        assert content in http.get("/").text
    return content
