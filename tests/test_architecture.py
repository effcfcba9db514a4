"""Guard tests for the infrastructure side of docs/ARCHITECTURE.md (the web side is in
test_web_guards.py): import boundaries, infrastructure as data, small documented modules, and
a thin CLI whose every command named in the README exists and fails without a traceback."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

from sampleapp import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sampleapp"
INFRA = [PACKAGE / "discovery", PACKAGE / "ops", PACKAGE / "cost"]
SAMPLEAPP = str(ROOT / ".venv" / "bin" / "sampleapp")


def infra_files() -> list[Path]:
    return sorted(p for d in INFRA for p in d.rglob("*.py"))


def test_cost_needs_neither_docker_nor_etcd() -> None:
    pattern = re.compile(r"^\s*(from|import) sampleapp\.(ops|discovery)", re.M)
    offenders = [str(p) for p in (PACKAGE / "cost").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_discovery_and_ops_never_import_the_web_app() -> None:
    pattern = re.compile(r"^\s*(from|import) (sampleapp\.web|django)", re.M)
    assert [str(p) for p in infra_files() if pattern.search(p.read_text())] == []


def test_only_the_settings_module_reads_the_environment_or_deploy_env_in_ops() -> None:
    """engine.py builds child processes' environments from ``os.environ``; nothing else reads it."""
    reading = re.compile(r"os\.environ|os\.getenv|dotenv|\.env\b\"")
    offenders = [
        p.name
        for p in (PACKAGE / "ops").glob("*.py")
        if p.name not in ("settings.py", "engine.py") and reading.search(p.read_text())
    ]
    assert offenders == []


def test_nginx_and_compose_text_is_never_built_in_python() -> None:
    pattern = re.compile(r"upstream |proxy_pass|services:")
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("path", infra_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_infrastructure_modules_are_small_and_say_why(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) < 400
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert len(docstring.splitlines()) >= (1 if path.name == "__init__.py" else 3), docstring


# gunicorn's server hooks and the arbiter internals the first registrar patched.
GUNICORN_MASTER = [
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_int",
    "worker_abort",
    "pre_exec",
    "pre_request",
    "post_request",
    "child_exit",
    "worker_exit",
    "nworkers_changed",
    "on_exit",
    "LISTENERS",
    "handle_term",
    "handle_int",
    "handle_quit",
]


def test_no_code_of_ours_runs_in_gunicorns_master() -> None:
    """gunicorn's master forks the workers, and no thread, socket or lock may cross a fork: twice
    a registrar thread in the master leaked into workers (an OpenSSL lock, then a probe's open
    connection). Registration is the web role's supervisor, a separate process."""
    pattern = re.compile(rf"\b({'|'.join(GUNICORN_MASTER)})\b")
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in pattern.findall(path.read_text())
    ]
    assert found == []


def handler_functions() -> list[ast.FunctionDef]:
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_")]


def test_every_cli_subcommand_body_is_at_most_ten_lines() -> None:
    handlers = handler_functions()
    assert len(handlers) >= 15
    for node in handlers:
        assert node.end_lineno is not None
        assert node.end_lineno - node.lineno <= 10, node.name


def subcommands() -> set[str]:
    parser = cli.build_parser()
    found = set()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            found.add(name)
            for inner in sub._subparsers._group_actions if sub._subparsers else []:
                found.update(f"{name} {child}" for child in inner.choices)
    return found


def test_every_command_the_readme_shows_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"sampleapp ((?:cluster |image |secrets |cost )?[a-z][a-z-]+)", readme))
    assert len(shown) >= 10
    assert shown - subcommands() == set()


def test_a_failing_command_is_one_error_line_with_no_traceback() -> None:
    env = {"PATH": os.environ["PATH"], "ETCD_ENDPOINTS": "etcd-without-a-scheme"}
    result = subprocess.run(
        [SAMPLEAPP, "status"], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ETCD_ENDPOINTS has 'etcd-without-a-scheme'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    debug = subprocess.run(
        [SAMPLEAPP, "--debug", "status"], env=env, capture_output=True, text=True, check=False
    )
    assert "Traceback" in debug.stderr
