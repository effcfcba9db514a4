"""Checks that run before anything is changed, and secret files that are safe to create twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sampleapp.errors import PreflightError
from sampleapp.ops import preflight, secrets
from sampleapp.ops.settings import load as load_settings


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMPLEAPP_SECRETS_DIR", str(tmp_path / "secrets"))
    return tmp_path / "secrets"


def test_secrets_init_twice_writes_once_and_keeps_the_values(secrets_dir: Path) -> None:
    first = secrets.init(load_settings())
    values = {p.name: p.read_text() for p in first}
    assert sorted(values) == ["postgres_password.txt", "secret_key.txt"]
    assert secrets.init(load_settings()) == []
    assert {p.name: p.read_text() for p in secrets_dir.iterdir()} == values
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in secrets_dir.iterdir())


def test_a_missing_user_is_named_with_where_to_set_it(secrets_dir: Path) -> None:
    secrets.init(load_settings())
    with pytest.raises(PreflightError, match=r"POSTGRES_USER is not set: .*deploy/env\.example"):
        preflight.credentials(load_settings({"POSTGRES_USER": ""}))


def test_a_missing_mail_server_is_named_with_where_to_set_it(secrets_dir: Path) -> None:
    secrets.init(load_settings())
    with pytest.raises(PreflightError, match=r"EMAIL_URL is not set: .*deploy/env\.example"):
        preflight.credentials(load_settings({"POSTGRES_USER": "sampleapp", "EMAIL_URL": ""}))
    preflight.credentials(load_settings({"POSTGRES_USER": "sampleapp", "EMAIL_URL": "console://"}))


def test_a_missing_secret_file_is_named_with_the_command_that_makes_it(secrets_dir: Path) -> None:
    secrets.init(load_settings())
    (secrets_dir / "secret_key.txt").unlink()
    with pytest.raises(PreflightError) as failure:
        preflight.credentials(load_settings({"POSTGRES_USER": "sampleapp"}))
    assert str(failure.value).startswith(f"SECRET_KEY is not set: create {secrets_dir}")
    assert "sampleapp secrets init" in str(failure.value)


def test_a_secret_the_containers_cannot_read_is_refused_with_the_chmod_to_run(
    secrets_dir: Path,
) -> None:
    secrets.init(load_settings())
    (secrets_dir / "postgres_password.txt").chmod(0o600)
    with pytest.raises(PreflightError, match="chmod 644"):
        preflight.credentials(load_settings({"POSTGRES_USER": "sampleapp"}))


def test_a_taken_port_is_refused_naming_the_variable_that_moves_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            PreflightError, match=f"Port {port} on 127.0.0.1 is taken.*SAMPLEAPP_PORT"
        ):
            preflight.port_free(port)
        preflight.port_free(port, owner_running=True)  # our own proxy holding it is fine
