"""EMAIL_URL (``smtp+tls://user:password@host:587``) read into Django's EMAIL_* settings.

A function of the URL alone: settings.py reads the variable and calls it (it stays the only
reader of the environment); the URL's user and password are percent-decoded.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
# Scheme: (backend, TLS, SSL, default port). smtp+tls is STARTTLS; smtps is TLS at once.
SCHEMES = {
    "smtp": ("smtp", False, False, 25),
    "smtp+tls": ("smtp", True, False, 587),
    "submission": ("smtp", True, False, 587),
    "smtps": ("smtp", False, True, 465),
    "smtp+ssl": ("smtp", False, True, 465),
    "console": ("console", False, False, 0),
    "dummy": ("dummy", False, False, 0),
}


def parse(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL has the scheme {parts.scheme!r}: use one of "
            f"{', '.join(SCHEMES)} (e.g. smtp+tls://user:password@host:587)"
        )
    backend, tls, ssl, default_port = SCHEMES[parts.scheme]
    return {
        "EMAIL_BACKEND": BACKENDS[backend],
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or default_port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": tls,
        "EMAIL_USE_SSL": ssl,
    }
