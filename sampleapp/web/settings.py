"""Settings: the only reader of the environment for the web app.

With no variables at all the app runs in development on a SQLite file under the data directory,
with a secret key generated once and kept there (like the Rails app's git-ignored ``.secret``), so
``make run`` needs no service. With ``SAMPLEAPP_ENV=production`` nothing is invented: a missing
``SECRET_KEY`` or database password stops the import with the variable's name and how to set it.
Every replica behind the load balancer must share ``SECRET_KEY`` and the database, because sessions
live server-side in the database and are signed with that key.

Variables (``deploy/env.example`` documents each): SAMPLEAPP_ENV, SECRET_KEY(_FILE), DATABASE_URL,
POSTGRES_USER, POSTGRES_PASSWORD(_FILE), POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB,
SAMPLEAPP_DATA_DIR, STATIC_ROOT, SITE_URL, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, INSTANCE_ID, DEBUG,
THROTTLE_WINDOW, THROTTLE_ACCOUNT_LIMIT, THROTTLE_ADDRESS_LIMIT, THROTTLE_PASSWORD_CHECKS,
THROTTLE_PASSWORD_WAIT, TRUSTED_PROXIES, PAGE_CACHE_SECONDS, and mail:
EMAIL_URL (or EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD(_FILE), EMAIL_USE_TLS,
EMAIL_USE_SSL), DEFAULT_FROM_EMAIL. Outside production mails are printed to the console; production
requires EMAIL_URL or EMAIL_HOST (``EMAIL_URL=console://`` prints them there too, deliberately).
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import quote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from sampleapp.web import email_url

WEB_DIR = Path(__file__).resolve().parent
REPO_DIR = WEB_DIR.parents[1]


def _env(name: str, default: str = "") -> str:
    """A variable's value, or the content of the file named by ``<name>_FILE`` (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {path}, which cannot be read ({exc.strerror}): "
                f"create that file or unset {name}_FILE"
            ) from exc
    return os.environ.get(name, default)


ENVIRONMENT = _env("SAMPLEAPP_ENV", "development")
if ENVIRONMENT not in {"development", "production", "test"}:
    raise ImproperlyConfigured(
        f"SAMPLEAPP_ENV must be development, production or test, not {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"

DATA_DIR = Path(_env("SAMPLEAPP_DATA_DIR") or REPO_DIR / "var")


def _secret_key() -> str:
    key = _env("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: every app server must share one secret. Set SECRET_KEY, or "
            "SECRET_KEY_FILE to a file holding it (generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)"
        )
    # Development: one key per data directory, kept across restarts so sessions survive.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _database() -> dict[str, object]:
    url = _env("DATABASE_URL")
    user = _env("POSTGRES_USER")
    if not url and user:
        # The thesis's variables: database.yml.postgresql used POSTGRES_USER/PASSWORD and host db.
        password = _env("POSTGRES_PASSWORD")
        if not password:
            raise ImproperlyConfigured(
                "POSTGRES_USER is set but POSTGRES_PASSWORD is not: set POSTGRES_PASSWORD, or "
                "POSTGRES_PASSWORD_FILE to a file holding it"
            )
        host = _env("POSTGRES_HOST", "db")
        port = _env("POSTGRES_PORT", "5432")
        name = _env("POSTGRES_DB", "sample_app_production")
        url = f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{name}"
    if not url:
        if PRODUCTION:
            raise ImproperlyConfigured(
                "No database configured for production: set DATABASE_URL, or POSTGRES_USER and "
                "POSTGRES_PASSWORD (host POSTGRES_HOST, default db)"
            )
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Several gunicorn workers share the file: wait for locks instead of failing at once.
        # IMMEDIATE: a write transaction takes the lock at BEGIN, so concurrent writers wait
        # for it instead of failing when a read lock cannot be upgraded.
        config["OPTIONS"] = {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
        # Kept open per thread, like PostgreSQL's: opening one costs more than a page's queries.
        config["CONN_MAX_AGE"] = 600
        # The test database is a file too, not Django's default in-memory one: in memory a
        # second writer fails at once ("table is locked") instead of waiting as it does here.
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        config["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    else:
        config["CONN_HEALTH_CHECKS"] = True
        # A database machine that vanished answers nothing: without these a request would hang
        # (until nginx gives up) instead of failing fast into the 503 page (web/unavailable.py).
        # libpq's own options: connect within 3 s, and drop a connection whose writes go
        # unacknowledged for 5 s or whose idle keepalives go unanswered.
        config["OPTIONS"] = {
            # Parameters bound by the server, and a query run five times on a connection kept as
            # a prepared statement: planning was most of PostgreSQL's time on a page's small
            # queries (docs/BENCHMARKS.md). No connection pooler sits in between to lose them.
            "server_side_binding": True,
            "prepare_threshold": 5,
            "connect_timeout": 3,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 5000,
        }
    return config


def _email() -> dict[str, object]:
    """The EMAIL_* settings from EMAIL_URL, else from EMAIL_HOST and its companions."""
    url = _env("EMAIL_URL")
    if url:
        return email_url.parse(url)
    host = _env("EMAIL_HOST")
    if host:
        ssl = _env("EMAIL_USE_SSL", "0").lower() in {"1", "true", "yes"}
        return {
            "EMAIL_BACKEND": email_url.BACKENDS["smtp"],
            "EMAIL_HOST": host,
            "EMAIL_PORT": int(_env("EMAIL_PORT") or (465 if ssl else 25)),
            "EMAIL_HOST_USER": _env("EMAIL_HOST_USER"),
            "EMAIL_HOST_PASSWORD": _env("EMAIL_HOST_PASSWORD"),
            "EMAIL_USE_TLS": _env("EMAIL_USE_TLS", "0").lower() in {"1", "true", "yes"},
            "EMAIL_USE_SSL": ssl,
        }
    if PRODUCTION:
        raise ImproperlyConfigured(
            "EMAIL_URL is not set: production sends activation and password reset mails. Set "
            "EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.com:587), or EMAIL_HOST with "
            "EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS; "
            "EMAIL_URL=console:// prints the mails to the log instead"
        )
    return {"EMAIL_BACKEND": email_url.BACKENDS["console"]}


# Names every server answers to, whatever SITE_URL says: the probes of the server's own
# container and host (the healthcheck, the supervisor's /readyz) ask for loopback.
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def _site_url() -> str:
    """SITE_URL: the address visitors use (``https://blog.example.com``). Links in mails start
    with it and its host is the one allowed, so a forged Host header can neither point a reset
    link at another site nor be answered. ``sampleapp up`` sets it from the URL it serves."""
    url = _env("SITE_URL").rstrip("/")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
            raise ImproperlyConfigured(
                f"SITE_URL is {url!r}: give the site's scheme and host (and port), like "
                "https://blog.example.com or https://127.0.0.1:8443, without a path"
            )
    elif PRODUCTION:
        raise ImproperlyConfigured(
            "SITE_URL is not set: production needs the address visitors use (e.g. "
            "SITE_URL=https://blog.example.com), for the links in mails and the allowed host. "
            "`sampleapp up` sets it; ALLOWED_HOSTS adds more names"
        )
    return url


def _allowed_hosts() -> list[str]:
    """SITE_URL's host, ALLOWED_HOSTS (comma-separated, added to it) and loopback; any host
    outside production when neither is set."""
    named = [h for h in _env("ALLOWED_HOSTS").split(",") if h]
    if SITE_URL:
        named.insert(0, str(urlsplit(SITE_URL).hostname))
    if not named and not PRODUCTION:
        return ["*"]
    if "*" in named and PRODUCTION:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS holds '*': in production any Host header would be answered. Name "
            "the hosts (SITE_URL's is allowed already)"
        )
    hostnames = [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in named]
    return [*dict.fromkeys([*hostnames, *LOOPBACK_HOSTS])]


SECRET_KEY = _secret_key()
DEBUG = _env("DEBUG", "0" if PRODUCTION else "1") == "1" and ENVIRONMENT != "test"
SITE_URL = _site_url()
ALLOWED_HOSTS = _allowed_hosts()
CSRF_TRUSTED_ORIGINS = [o for o in _env("CSRF_TRUSTED_ORIGINS").split(",") if o]
# Served over HTTPS (SITE_URL says so): cookies travel only over HTTPS. The proxy terminates TLS
# and says so in X-Forwarded-Proto, which is believed only from TRUSTED_PROXIES
# (middleware.ForwardedProtoMiddleware drops it from anyone else); nginx sends HSTS.
HTTPS = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
INSTANCE_ID = _env("INSTANCE_ID") or socket.gethostname()

DATABASES = {"default": _database()}

_mail = _email()
EMAIL_BACKEND = str(_mail["EMAIL_BACKEND"])
EMAIL_HOST = str(_mail.get("EMAIL_HOST", "localhost"))
EMAIL_PORT = int(str(_mail.get("EMAIL_PORT", 25)))
EMAIL_HOST_USER = str(_mail.get("EMAIL_HOST_USER", ""))
EMAIL_HOST_PASSWORD = str(_mail.get("EMAIL_HOST_PASSWORD", ""))
EMAIL_USE_TLS = bool(_mail.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_mail.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = 10  # seconds: a mail server that hangs fails the request instead of holding it
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "noreply@example.com")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "sampleapp.web.users",
    "sampleapp.web.microposts",
    "sampleapp.web.relationships",
    "sampleapp.web.pages",
]
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "/signin"
# Django's ModelBackend with the signed-in user read in one line of SQL (web/users/backends.py).
# One backend only: each listed one would hash a wrong password again.
AUTHENTICATION_BACKENDS = ["sampleapp.web.users.backends.UserBackend"]

MIDDLEWARE = [
    "sampleapp.web.middleware.ServedByMiddleware",
    "sampleapp.web.caching.PageCacheMiddleware",
    "sampleapp.web.middleware.ContentSecurityPolicyMiddleware",
    "sampleapp.web.proxies.ForwardedProtoMiddleware",
    "sampleapp.web.middleware.Utf8FormsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "sampleapp.web.middleware.MethodOverrideMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Where a page may load from (web/middleware.py): this site's script, stylesheets and images, and
# Gravatar's avatars (users/helpers.py). Nothing inline: styles live in static/css, the one
# script in static/js. Forms post here only, and no other site may frame a page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https://secure.gravatar.com",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ROOT_URLCONF = "sampleapp.web.urls"
WSGI_APPLICATION = "sampleapp.web.wsgi.application"

# Jinja2 (web/templating.py says why), reading each app's templates/ directory.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [
            WEB_DIR / app / "templates"
            for app in (".", "pages", "users", "microposts", "relationships")
        ],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "sampleapp.web.templating.environment",
            "context_processors": [
                "django.contrib.messages.context_processors.messages",
                "sampleapp.web.templating.csrf",
            ],
        },
    },
]

# Flash keys as the Rails layout names them: alert-success, alert-error, alert-notice.
MESSAGE_TAGS = {20: "notice", 25: "success", 40: "error"}

# Sessions live in the shared database, so any replica can serve any request; the cookie is
# permanent (sign-in survives browser restarts) and sign-out deletes the row on the server.
SESSION_ENGINE = "sampleapp.web.sessions"  # Django's db engine, read with SQL (web/sessions.py)
SESSION_COOKIE_AGE = 60 * 60 * 24 * 365 * 20
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True

PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if ENVIRONMENT == "test"  # fast hashing for tests only
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)

# Throttling of sign-in and sign-up (users/throttle.py): attempts per account (the email typed)
# and per client address within a sliding window of seconds; one more is a 429 with no password
# hashed. The client address is REMOTE_ADDR, or nginx's X-Forwarded-For entry when the connection
# comes from one of TRUSTED_PROXIES (addresses or networks, comma-separated; by default loopback
# and the private networks the Compose and cluster networks use). Set it to nginx's addresses
# where untrusted hosts on a private network can reach the app servers directly.
THROTTLE_WINDOW = int(_env("THROTTLE_WINDOW", "900"))
THROTTLE_ACCOUNT_LIMIT = int(_env("THROTTLE_ACCOUNT_LIMIT", "5"))
THROTTLE_ADDRESS_LIMIT = int(_env("THROTTLE_ADDRESS_LIMIT", "20"))
# Password hashes at once per process, and how long one more may wait: users/password_checks.py.
THROTTLE_PASSWORD_CHECKS = int(_env("THROTTLE_PASSWORD_CHECKS", "1"))
THROTTLE_PASSWORD_WAIT = float(_env("THROTTLE_PASSWORD_WAIT", "2"))
TRUSTED_PROXIES = [
    p.strip()
    for p in _env(
        "TRUSTED_PROXIES", "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    ).split(",")
    if p.strip()
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [WEB_DIR / "static"]
STATIC_ROOT = Path(_env("STATIC_ROOT") or DATA_DIR / "static")
# Outside production the files are served from the source tree, collected or not.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
if PRODUCTION:  # hashed names and .gz copies, which the proxy serves as immutable for a year
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
PAGE_CACHE_SECONDS = int(_env("PAGE_CACHE_SECONDS", "2"))  # for anonymous pages: web/caching.py

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "sampleapp": {"handlers": ["stdout"], "level": "INFO"},
        "sampleapp.requests": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # Django's own request log would be a second line per failed request.
        "django.request": {"handlers": [], "level": "ERROR", "propagate": False},
    },
}
