"""The deployment's secrets: files under deploy/secrets/, never values in Compose or stack files.

Compose mounts them at /run/secrets/<name> and the containers read them through ``*_FILE``
variables; the cluster turns the same files into Swarm secrets. ``init`` writes random values
for the missing ones only, so running it twice changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sampleapp.ops.compose import DEPLOY

SECRETS_DIR = DEPLOY / "secrets"


@dataclass(frozen=True)
class Secret:
    name: str  # the Compose/Swarm secret name
    variable: str  # the setting it provides inside the containers

    @property
    def path(self) -> Path:
        return SECRETS_DIR / f"{self.name}.txt"

    def present(self) -> bool:
        return self.path.exists() and bool(self.path.read_text().strip())


SECRETS = (
    Secret("postgres_password", "POSTGRES_PASSWORD"),
    Secret("secret_key", "SECRET_KEY"),
)


def missing() -> list[Secret]:
    return [s for s in SECRETS if not s.present()]


def init() -> list[Path]:
    """Create random values for the secrets that have no file yet; returns the files written."""
    written = []
    SECRETS_DIR.mkdir(parents=True, exist_ok=True)
    for secret in missing():
        secret.path.write_text(secrets.token_urlsafe(48))
        secret.path.chmod(0o600)
        written.append(secret.path)
    return written
