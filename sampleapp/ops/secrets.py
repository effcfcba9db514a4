"""The deployment's secrets: files under deploy/secrets/, never values in Compose or stack files.

Compose mounts them at /run/secrets/<name> and the containers read them through ``*_FILE``
variables; the cluster turns the same files into Swarm secrets. ``init`` writes random values
for the missing ones only, so running it twice changes nothing. Compose (without Swarm) bind-mounts
the files as they are, and the containers read them as their own non-root users (postgres, the
app's uid 10001): so each file is world-readable and the directory is private (0700) instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sampleapp.ops.settings import Settings


@dataclass(frozen=True)
class Secret:
    name: str  # the Compose/Swarm secret name
    variable: str  # the setting it provides inside the containers

    def path(self, settings: Settings) -> Path:
        return settings.secrets_dir / f"{self.name}.txt"

    def present(self, settings: Settings) -> bool:
        path = self.path(settings)
        return path.exists() and bool(path.read_text().strip())


SECRETS = (
    Secret("postgres_password", "POSTGRES_PASSWORD"),
    Secret("secret_key", "SECRET_KEY"),
)


def missing(settings: Settings) -> list[Secret]:
    return [s for s in SECRETS if not s.present(settings)]


def init(settings: Settings) -> list[Path]:
    """Create random values for the secrets that have no file yet; returns the files written."""
    written = []
    directory = settings.secrets_dir
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for secret in missing(settings):
        path = secret.path(settings)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o644)
        written.append(path)
    return written


def unreadable(settings: Settings) -> list[Secret]:
    """Secret files the containers' non-root users could not read."""
    return [
        s for s in SECRETS if s.present(settings) and not s.path(settings).stat().st_mode & 0o004
    ]
