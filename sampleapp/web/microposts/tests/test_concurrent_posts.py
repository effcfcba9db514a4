# mypy: disable-error-code="no-untyped-def"
"""Posts made at the same moment, each request on its own database connection, are all counted.

The count a profile and the feed's total show is kept by the database (MicropostCount): every
insert adds to one row per author, so writers of one author's posts meet on that row. None may
lose another's addition, and none may fail waiting for it.
"""

from __future__ import annotations

from functools import partial

import pytest
from django.test import Client

from sampleapp.web.conftest import each_in_a_thread
from sampleapp.web.microposts.models import Micropost, MicropostCount
from sampleapp.web.users.models import User
from tests.support.html import Page

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 6
POSTS_EACH = 5


def test_posts_sent_at_once_by_six_sessions_of_one_user_are_all_counted() -> None:
    user = User.objects.create_user(
        name="Busy", email="busy@example.com", password="foobar", activated=True
    )
    clients = [Client() for _ in range(WRITERS)]
    for client in clients:
        client.force_login(user)

    def post_five(client: Client, writer: int):
        for n in range(POSTS_EACH):
            response = client.post("/microposts", {"micropost[content]": f"{writer}.{n}"})
            assert response.status_code == 302, response.status_code
        return response

    with each_in_a_thread(
        [partial(post_five, client, writer) for writer, client in enumerate(clients)]
    ) as responses:
        pass
    assert len(responses) == WRITERS
    total = WRITERS * POSTS_EACH
    assert Micropost.objects.filter(user=user).count() == total
    assert MicropostCount.objects.get(pk=user.pk).total == total
    page = Page(clients[0].get(f"/users/{user.pk}"))
    assert page.has("h3", f"Microposts ({total})")
