"""Guard tests for the web app's share of docs/ARCHITECTURE.md (checks 1-5 and 14).

Each reads the source tree, so a change that breaks a rule fails the build instead of waiting
for a reviewer: app shape, Rails-sized views, domain queries kept out of views, settings as the
only environment reader, import boundaries, and small modules that explain themselves.
"""

from __future__ import annotations

import ast
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sampleapp"
WEB = PACKAGE / "web"
APPS = [a.rsplit(".", 1)[1] for a in settings.INSTALLED_APPS if a.startswith("sampleapp.web.")]
LAYOUT_TEMPLATES = {
    "base.html",
    "_header.html",
    "_footer.html",
    "shared/_error_messages.html",
    "shared/_delete_form.html",
    "404.html",
}


def python_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "migrations" not in p.parts]


def test_the_four_apps_are_installed() -> None:
    assert sorted(APPS) == ["microposts", "pages", "relationships", "users"]


@pytest.mark.parametrize("app", APPS)
def test_every_app_has_the_same_shape(app: str) -> None:
    base = WEB / app
    for name in (
        "models.py",
        "views.py",
        "urls.py",
        f"templates/{app}",
        "tests/__init__.py",
        "migrations/__init__.py",
    ):
        assert (base / name).exists(), f"{app} lacks {name}"
    assert list((base / "tests").glob("test_*.py")), f"{app}/tests has no test_*.py"
    assert not (base / "tests.py").exists()
    stray = [p.name for p in base.glob("test*.py")]
    assert not stray, f"tests beside the code in {app}: {stray}"


def test_project_templates_hold_only_the_layout() -> None:
    templates = WEB / "templates"
    found = {p.relative_to(templates).as_posix() for p in templates.rglob("*.html")}
    assert found <= LAYOUT_TEMPLATES, found - LAYOUT_TEMPLATES


def view_lengths() -> dict[str, int]:
    lengths = {}
    for path in WEB.glob("*/views.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                lengths[f"{path.parent.name}.{node.name}"] = node.end_lineno - start + 1  # type: ignore[operator]
    return lengths


def test_views_are_rails_sized() -> None:
    lengths = view_lengths()
    assert len(lengths) >= 20
    too_long = {name: n for name, n in lengths.items() if n > 25}
    assert not too_long, f"views over 25 lines: {too_long}"
    assert statistics.median(lengths.values()) < 12, sorted(lengths.values())


def test_follow_graph_queries_stay_out_of_views() -> None:
    for path in WEB.glob("*/views.py"):
        assert not re.search(r"following_set|followed_id", path.read_text()), path


def test_settings_is_the_only_reader_of_the_environment() -> None:
    readers = [
        str(p.relative_to(ROOT))
        for p in WEB.rglob("*.py")
        if re.search(r"os\.environ|getenv", p.read_text())
    ]
    assert readers == ["sampleapp/web/settings.py"]


def test_only_the_web_package_imports_django() -> None:
    glue = {PACKAGE / "serve.py", PACKAGE / "cli.py"}  # they import it lazily, inside functions
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(PACKAGE)
        if WEB not in p.parents
        and p not in glue
        and re.search(r"^(from|import) django", p.read_text(), re.M)
    ]
    assert not offenders


def test_glue_modules_import_django_only_inside_functions() -> None:
    for path in (PACKAGE / "serve.py", PACKAGE / "cli.py"):
        assert not re.search(r"^(from|import) django", path.read_text(), re.M), path


def test_web_never_imports_discovery_or_ops() -> None:
    pattern = re.compile(r"^\s*(from|import) sampleapp\.(discovery|ops)", re.M)
    offenders = [p for p in python_files(WEB) if pattern.search(p.read_text())]
    assert not offenders


def test_web_modules_are_small_and_open_with_a_docstring() -> None:
    for path in python_files(WEB):
        text = path.read_text()
        assert len(text.splitlines()) < 400, path
        if (
            text.strip()
            and "tests" not in path.parts
            and path.name not in {"apps.py", "__init__.py"}
        ):
            assert ast.get_docstring(ast.parse(text)), f"{path} has no docstring"


SITE = "https://blog.example.com"
PRODUCTION = {
    "SAMPLEAPP_ENV": "production",
    "SECRET_KEY": "k" * 50,
    "DATABASE_URL": "postgres://u:p@db/x",
    "EMAIL_URL": "console://",
}


def settings_in_child(
    code: str = "import sampleapp.web.settings", **env: str
) -> subprocess.CompletedProcess[str]:
    """``code`` run by a Python of its own whose whole environment is ``env`` (and PATH...)."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**keep, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_without_secret_key_fail_naming_it(tmp_path: Path) -> None:
    done = settings_in_child(
        SAMPLEAPP_ENV="production",
        SAMPLEAPP_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://u:p@db/x",
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in done.stderr


def test_production_settings_without_database_password_fail_naming_it(tmp_path: Path) -> None:
    done = settings_in_child(
        SAMPLEAPP_ENV="production",
        SAMPLEAPP_DATA_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        POSTGRES_USER="sample",
        SITE_URL=SITE,
    )
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr


def test_production_settings_with_everything_set_import(tmp_path: Path) -> None:
    done = settings_in_child(
        SAMPLEAPP_ENV="production",
        SAMPLEAPP_DATA_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        POSTGRES_USER="sample",
        POSTGRES_PASSWORD="secret",
        EMAIL_URL="smtp+tls://user:pass@smtp.example.com:587",
        SITE_URL="https://blog.example.com",
    )
    assert done.returncode == 0, done.stderr


HOST_SETTINGS = ["ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SITE_URL"]


def production_settings(tmp_path: Path, **env: str) -> dict[str, object]:
    """The named settings of a production process started with ``env``."""
    code = (
        "import json, sampleapp.web.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {HOST_SETTINGS!r}}}))"
    )
    done = settings_in_child(code, **PRODUCTION, SAMPLEAPP_DATA_DIR=str(tmp_path), **env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_production_allows_only_site_urls_host_and_loopback_with_secure_cookies(
    tmp_path: Path,
) -> None:
    assert production_settings(tmp_path, SITE_URL=SITE + "/") == {
        "ALLOWED_HOSTS": ["blog.example.com", "localhost", "127.0.0.1", "[::1]"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SITE_URL": SITE,
    }
    more = production_settings(tmp_path, SITE_URL="http://10.0.0.5:8080", ALLOWED_HOSTS="a.org")
    assert more["ALLOWED_HOSTS"] == ["10.0.0.5", "a.org", "localhost", "127.0.0.1", "[::1]"]
    assert more["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "ImproperlyConfigured: SITE_URL is not set"),
        ({"SITE_URL": "blog.example.com"}, "give the site's scheme and host"),
        ({"SITE_URL": SITE + "/app"}, "without a path"),
        ({"SITE_URL": SITE, "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS holds '*'"),
    ],
)
def test_production_refuses_any_host_and_says_what_to_set(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    done = settings_in_child(**PRODUCTION, SAMPLEAPP_DATA_DIR=str(tmp_path), **env)
    assert done.returncode != 0
    assert said in done.stderr


def test_production_settings_without_a_mail_server_fail_naming_email_url(tmp_path: Path) -> None:
    done = settings_in_child(
        SAMPLEAPP_ENV="production",
        SAMPLEAPP_DATA_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://u:p@db/x",
        SITE_URL=SITE,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: EMAIL_URL is not set" in done.stderr
    assert "EMAIL_HOST" in done.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"EMAIL_URL": "smtp+tls://me%40x.org:p%2Fw@smtp.example.com"},
            ["smtp", "smtp.example.com", 587, "me@x.org", "p/w", True, False],
        ),
        (
            {"EMAIL_HOST": "relay", "EMAIL_PORT": "2525", "EMAIL_USE_TLS": "1"},
            ["smtp", "relay", 2525, "", "", True, False],
        ),
        ({"EMAIL_URL": "smtps://relay"}, ["smtp", "relay", 465, "", "", False, True]),
        ({"EMAIL_URL": "console://"}, ["console", "localhost", 0, "", "", False, False]),
    ],
)
def test_production_mail_settings_come_from_email_url_or_email_host(
    tmp_path: Path, env: dict[str, str], expected: list[object]
) -> None:
    fields = "EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS"
    code = (
        "import json, sampleapp.web.settings as s; print(json.dumps("
        "[s.EMAIL_BACKEND.split('.')[-2], "
        + ", ".join(f"s.{f}" for f in [*fields.split(", "), "EMAIL_USE_SSL"])
        + "]))"
    )
    base = {"SAMPLEAPP_ENV": "production", "SAMPLEAPP_DATA_DIR": str(tmp_path)}
    secrets = {"SECRET_KEY": "k" * 50, "DATABASE_URL": "postgres://u:p@db/x", "SITE_URL": SITE}
    done = settings_in_child(code, **{**base, **secrets, **env})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
