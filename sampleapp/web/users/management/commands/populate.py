"""``populate``: the tutorial's sample data, once, however often and however many times at once.

The tutorial's order, not the thesis fork's accident (spec F.2): the admin "Example User" first
(user 1 on a fresh database), 99 Faker users, 50 microposts for each of the first 6 users, user 1
following users 3..51 and users 4..41 following user 1. Everything is one transaction that first
takes a lock (``pg_advisory_xact_lock`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write lock)
and then looks for the admin: a concurrent run waits, then finds the data and adds nothing. Rows
are bulk-inserted and the two passwords are hashed once each, so a run takes about a second.
Faker is seeded, so every database gets the same names and sentences. Every user is activated,
as in the later editions' seeds.

``--scale`` then grows the data to 1,000 users and 100,000 microposts (the benchmark's larger data
set, docs/BENCHMARKS.md): 900 more users, each following the 20 users after them; 100 microposts
per user over the past year, the sample's included. It too runs once: a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import connection, models, transaction
from django.utils import timezone
from faker import Faker

from sampleapp import demo
from sampleapp.web.microposts.models import Micropost
from sampleapp.web.relationships.models import Relationship
from sampleapp.web.users.models import User

LOCK_KEY = 0x5A4D_504C  # any constant shared by every populate: "ZMPL"
SEED = 2013
SCALE_USERS = 1_000
SCALE_POSTS_PER_USER = 100  # 100,000 in all
SCALE_FOLLOWS = 20  # each added user follows the next 20


class Command(BaseCommand):
    help = "Fill the database with the tutorial's sample data (does nothing when already there)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--scale",
            action="store_true",
            help=f"then grow to {SCALE_USERS:,} users and "
            f"{SCALE_USERS * SCALE_POSTS_PER_USER:,} microposts (the benchmark's data)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            lock()
            if User.objects.filter(email=demo.EMAIL).exists():
                self.stdout.write("Sample data already there: nothing to do")
            else:
                users = make_users(Faker(), timezone.now())
                make_microposts(Faker(), users[:6], timezone.now())
                make_relationships(users)
                self.stdout.write(
                    f"Created {len(users)} users, {6 * 50} microposts, 87 relationships"
                )
        if options["scale"]:
            with transaction.atomic():
                lock()
                self.stdout.write(scale(Faker(), timezone.now()))


def lock() -> None:
    """Hold the database's write lock (PostgreSQL: an advisory one) until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def scale(fake: Faker, now: dt.datetime) -> str:
    """The sample data grown to SCALE_USERS users with SCALE_POSTS_PER_USER microposts each."""
    if User.objects.count() >= SCALE_USERS:
        return "Scaled data already there: nothing to do"
    fake.seed_instance(SEED + 1)
    have = User.objects.count()
    password = make_password("password")
    User.objects.bulk_create(sample_user(fake, n, password, now) for n in range(have, SCALE_USERS))
    ids = list(User.objects.order_by("id").values_list("id", flat=True))
    added = ids[have:]
    Relationship.objects.bulk_create(
        (
            Relationship(follower_id=user, followed_id=ids[(have + i + k) % len(ids)])
            for i, user in enumerate(added)
            for k in range(1, SCALE_FOLLOWS + 1)
        ),
        batch_size=5_000,
    )
    counts = dict(Micropost.objects.values_list("user_id").annotate(n=models.Count("id")))
    sentences = [fake.sentence(nb_words=5)[:140] for _ in range(200)]
    minutes = 365 * 24 * 60 // SCALE_POSTS_PER_USER
    posts = (
        Micropost(
            user_id=user,
            content=sentences[(i + n) % len(sentences)],
            created_at=now - dt.timedelta(minutes=minutes * n + i % minutes),
        )
        for i, user in enumerate(ids)
        for n in range(counts.get(user, 0), SCALE_POSTS_PER_USER)
    )
    Micropost.objects.bulk_create(posts, batch_size=5_000)
    return (
        f"Scaled to {User.objects.count():,} users, {Micropost.objects.count():,} microposts, "
        f"{Relationship.objects.count():,} relationships"
    )


def make_users(fake: Faker, now: dt.datetime) -> list[User]:
    fake.seed_instance(SEED)
    admin = User(
        name="Example User",
        email=demo.EMAIL,
        admin=True,
        password=make_password(demo.PASSWORD),
        created_at=now,
        activated=True,
        activated_at=now,
    )
    admin.save()
    password = make_password("password")
    others = [sample_user(fake, n + 1, password, now) for n in range(99)]
    User.objects.bulk_create(others)
    emails = [demo.EMAIL, *(u.email for u in others)]
    return list(User.objects.filter(email__in=emails).order_by("id"))


def sample_user(fake: Faker, n: int, password: str, now: dt.datetime) -> User:
    """``example-<n>@railstutorial.org``, activated, with a Faker name and the shared password."""
    return User(
        name=fake.name(),
        email=f"example-{n}@railstutorial.org",
        password=password,
        activated=True,
        activated_at=now,
    )


def make_microposts(fake: Faker, authors: list[User], now: dt.datetime) -> None:
    """50 rounds, each giving the six authors the same sentence; older rounds are older."""
    fake.seed_instance(SEED)
    posts = []
    for round_ in range(50):
        content = fake.sentence(nb_words=5)[:140]
        when = now - dt.timedelta(minutes=5 * (50 - round_))
        posts += [Micropost(user=u, content=content, created_at=when) for u in authors]
    Micropost.objects.bulk_create(posts)


def make_relationships(users: list[User]) -> None:
    user = users[0]
    rows = [Relationship(follower=user, followed=other) for other in users[2:51]]
    rows += [Relationship(follower=follower, followed=user) for follower in users[3:41]]
    Relationship.objects.bulk_create(rows)
