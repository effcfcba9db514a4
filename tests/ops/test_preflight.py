"""Checks that run before anything is changed, and secret files that are safe to create twice."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from sampleapp.errors import PreflightError
from sampleapp.ops import preflight, secrets, tls
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
            preflight.port_free(port, "SAMPLEAPP_PORT")
        preflight.port_free(
            port, "SAMPLEAPP_PORT", owner_running=True
        )  # our own proxy holding it is fine


def subject_names(cert: Path) -> str:
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return " ".join(text.split()).removeprefix("X509v3 Subject Alternative Name: ")


def test_the_self_signed_certificate_is_made_once_for_the_site_and_loopback(
    secrets_dir: Path,
) -> None:
    found, made = tls.ensure(load_settings(), "https://blog.example.com")
    assert made and not found.given
    assert found.cert == secrets_dir / "tls_cert.pem" and found.key == secrets_dir / "tls_key.pem"
    assert subject_names(found.cert) == (
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:blog.example.com"
    )
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (found.cert, found.key))
    pair = found.cert.read_bytes(), found.key.read_bytes()
    again, made_again = tls.ensure(load_settings(), "https://other.example.com")
    assert not made_again and (again.cert.read_bytes(), again.key.read_bytes()) == pair
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", found.fingerprint)


def test_given_certificate_files_are_checked_before_anything_starts(
    secrets_dir: Path, tmp_path: Path
) -> None:
    mine, _ = tls.ensure(load_settings(), "https://127.0.0.1")
    other, _ = tls.ensure(load_settings({"SAMPLEAPP_SECRETS_DIR": str(tmp_path / "o")}), "x")
    given = {"TLS_CERT_FILE": str(mine.cert), "TLS_KEY_FILE": str(other.key)}
    with pytest.raises(PreflightError, match=r"nginx could not serve .* TLS_KEY_FILE"):
        tls.check(load_settings(given))
    missing = {**given, "TLS_KEY_FILE": str(tmp_path / "nowhere.pem")}
    with pytest.raises(PreflightError, match=r"TLS_KEY_FILE is .*nowhere\.pem, which does not"):
        tls.check(load_settings(missing))
    found = tls.check(load_settings({**given, "TLS_KEY_FILE": str(mine.key)}))
    assert found.given and found.cert == mine.cert
