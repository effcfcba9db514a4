"""Throttling of sign-in and sign-up: a limited attempt is answered 429 without hashing a password.

Every attempt costs a password hash (PBKDF2, a third of a second of a core), so a burst of wrong
sign-ins used to take every gunicorn thread, and a guesser could try passwords without end. Here
each POST of a throttled view counts against two keys, its account (the email typed) and the
client address, within a sliding window (``THROTTLE_WINDOW``, default 15 min): the account
allows ``THROTTLE_ACCOUNT_LIMIT`` attempts (5), the address ``THROTTLE_ADDRESS_LIMIT`` (20). One
more is refused before the view runs: a 429 page, "Too many failed sign-ins. Try again in N
minutes.", with ``Retry-After`` in seconds. A sign-in that succeeds (the view redirects) takes its
attempts back and clears the account's count, so only failures count; a sign-up counts either way.

The attempts admitted still hash, but no more at once than ``password_checks.py`` allows
(``checks_passwords=True``: sign-in, sign-up). An attempt it refuses is a 429 "busy, try again
in a few seconds" (``Retry-After: 2``) that hashed nothing and is not counted; when the cap is
already full with others waiting, that refusal comes before any query, so it costs little.

Storage: one row per attempt (``users.Attempt``) in the database, which every gunicorn worker
and every app server replica already shares; a per-process cache would not hold, and Django's
database cache would need ``createcachetable`` wherever a database is migrated and culls entries
when full (an attacker could evict counters). A migration creates the table everywhere. An attempt
is first written, then counted: the n-th row written sees at least n rows, so however many
arrive at once, no more than the limit reach the password check (attempts racing at the limit
may all be refused, none admitted past it). Rows older than the window go as new ones come.

Client address: ``REMOTE_ADDR``, unless it is one of ``TRUSTED_PROXIES`` (nginx, default loopback
and private networks): then the last ``X-Forwarded-For`` entry, the one nginx appended (entries
before it are the client's own and are ignored). In the Compose stack nginx sees docker-proxy's
gateway for every client (its published port), so there all clients share one address count;
behind the cluster's edge (PROXY protocol) it is the real client. Per-account limits hold anyway.

Other views take the same limits with ``@throttled(scope, noun, account_field=...)``, e.g.
``@throttled("password_reset", "password reset requests", account_field="password_reset[email]")``
or ``@throttled("activation", "activation emails", account_field=...)``: each scope counts apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from sampleapp.web.proxies import client_address
from sampleapp.web.users import password_checks
from sampleapp.web.users.models import Attempt

View = Callable[..., HttpResponse]
COUNTED = "sampleapp_throttle_counted"  # set by ``counted``


def counted(response: HttpResponse) -> HttpResponse:
    """Mark a redirect that must still count as an attempt (a sign-in to an inactive account
    mails a new activation link: unlimited, it would let anyone who signed up with someone
    else's address fill that inbox)."""
    setattr(response, COUNTED, True)
    return response


BUSY_RETRY_AFTER = 2  # seconds


def _key(scope: str, kind: str, value: str) -> str:
    return (
        f"{scope}:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"
    )


def _limits(request: HttpRequest, scope: str, account_field: str | None) -> dict[str, int]:
    """The keys this request counts against, each with its limit."""
    limits = {_key(scope, "address", client_address(request)): settings.THROTTLE_ADDRESS_LIMIT}
    account = request.POST.get(account_field, "") if account_field else ""
    if account:
        limits[_key(scope, "account", account.strip().lower())] = settings.THROTTLE_ACCOUNT_LIMIT
    return limits


def _over(limits: dict[str, int], since: dt.datetime, margin: int) -> dt.datetime | None:
    """For the keys with more than ``limit - margin`` attempts in the window, the latest of their
    oldest attempts (None if no key has): the attempt is allowed again once it leaves the window.
    One query."""
    rows = (
        Attempt.objects.filter(key__in=limits, at__gt=since)
        .values_list("key")
        .annotate(n=Count("id"), first=Min("at"))
        .values_list("key", "n", "first")
    )
    firsts = [first for key, n, first in rows if n > limits[key] - margin]
    return max(firsts) if firsts else None


def _admit(limits: dict[str, int], now: dt.datetime) -> tuple[int, list[int]]:
    """Count this attempt: the seconds to wait when a limit is reached (nothing kept), else 0
    and the ids of the rows written for it. Written first and counted after, so parallel
    attempts cannot all pass (near the limit a race may refuse one more than needed)."""
    window = dt.timedelta(seconds=settings.THROTTLE_WINDOW)
    since = now - window
    first = _over(limits, since, margin=1)
    if first is None:  # below every limit: write, then count with the others that did
        Attempt.objects.filter(at__lte=since).delete()
        ids = [Attempt.objects.create(key=key, at=now).pk for key in limits]
        first = _over(limits, since, margin=0)
        if first is None:
            return 0, ids
        Attempt.objects.filter(pk__in=ids).delete()
    return max(1, math.ceil((first + window - now).total_seconds())), []


def _refuse(request: HttpRequest, noun: str, seconds: int) -> HttpResponse:
    minutes = math.ceil(seconds / 60)
    error = f"Too many {noun}. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    response = render(request, "users/throttled.html", {"error": error}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _busy(request: HttpRequest) -> HttpResponse:
    error = "The server is busy checking other passwords. Try again in a few seconds."
    response = render(request, "users/throttled.html", {"error": error}, status=429)
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


def throttled(
    scope: str,
    noun: str,
    *,
    account_field: str | None = None,
    only_failures: bool = False,
    checks_passwords: bool = False,
) -> Callable[[View], View]:
    """Limit a view's POSTs per client address and, with ``account_field`` (the form field naming
    the account, e.g. ``session[email]``), per account, sharing the limits and window of sign-in.
    ``only_failures``: a redirect (success) takes its attempt back and clears the account's.
    ``checks_passwords``: the view hashes in ``password_check()``; a ``Busy`` one is a 429."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != "POST":
                return view(request, *args, **kwargs)
            if checks_passwords and password_checks.busy():
                return _busy(request)  # before any query: this refusal costs little
            now = timezone.now()
            limits = _limits(request, scope, account_field)
            wait, ids = _admit(limits, now)
            if wait:
                return _refuse(request, noun, wait)
            try:
                response = view(request, *args, **kwargs)
            except password_checks.Busy:  # no password was checked: the attempt does not count
                Attempt.objects.filter(pk__in=ids).delete()
                return _busy(request)
            succeeded = 300 <= response.status_code < 400 and not getattr(response, COUNTED, False)
            if only_failures and succeeded:
                accounts = [key for key in limits if ":account:" in key]
                Attempt.objects.filter(Q(pk__in=ids) | Q(key__in=accounts)).delete()
            return response

        return wrapper

    return decorate


limit_sign_ins = throttled(
    "signin",
    "failed sign-ins",
    account_field="session[email]",
    only_failures=True,
    checks_passwords=True,
)
limit_sign_ups = throttled("signup", "sign-ups", checks_passwords=True)
limit_password_resets = throttled(
    "password_reset", "password reset requests", account_field="password_reset[email]"
)
