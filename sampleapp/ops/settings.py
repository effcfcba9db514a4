"""The deployments' settings, read once: deploy/.env, then the environment, then the command.

Compose and ``docker stack deploy`` read their files' ``${VARIABLES}`` from a process
environment, so the settings are kept as that mapping, frozen, with the values the project
itself reads named here once (the Compose project, its port, the secrets directory, the
cluster's name, port and subnet). ``sampleapp`` loads one ``Settings`` per command and passes it
down as an argument: nothing under ``ops`` reads ``os.environ`` or deploy/.env but ``load``.
deploy/.env is read by python-dotenv the way Compose reads it, literally (no ``${...}``
expansion); a variable of the shell wins over it, and a value the command sets wins over both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from dotenv import dotenv_values

from sampleapp.ops import nodes
from sampleapp.ops.nodes import Cluster, port_setting

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ENV_FILE = DEPLOY / ".env"
DEFAULT_PROJECT = "sampleapp"
DEFAULT_PORT = 8080
DEFAULT_TLS_PORT = 8443
DEFAULT_SECRETS_DIR = DEPLOY / "secrets"


def env_file_values(path: Path) -> dict[str, str]:
    """deploy/.env as Compose reads it (python-dotenv: quotes, comments, ``export``), taken
    literally: no ``${...}`` expansion, and a name without ``=`` sets nothing."""
    if not path.exists():
        return {}
    found = dotenv_values(path, interpolate=False)
    return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class Settings:
    env: Mapping[str, str]  # what Compose and the stack file see (read-only)

    def with_values(self, values: Mapping[str, str]) -> Settings:
        """These settings with ``values`` set (images chosen for a run, a stack's inputs)."""
        return Settings(MappingProxyType({**self.env, **values}))

    @property
    def project(self) -> str:
        """SAMPLEAPP_PROJECT: the Compose project, so a second stack can run beside the first."""
        return self.env.get("SAMPLEAPP_PROJECT") or DEFAULT_PROJECT

    @property
    def port(self) -> int:
        """SAMPLEAPP_PORT: the Compose stack's plain HTTP port on 127.0.0.1 (it redirects)."""
        return port_setting(self.env, "SAMPLEAPP_PORT", DEFAULT_PORT)

    @property
    def tls_port(self) -> int:
        """SAMPLEAPP_TLS_PORT: the Compose stack's HTTPS port on 127.0.0.1."""
        return port_setting(self.env, "SAMPLEAPP_TLS_PORT", DEFAULT_TLS_PORT)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def site_url(self, served: str) -> str:
        """SITE_URL (the address visitors use: links in mails, the allowed host, where plain
        HTTP is sent), else ``served``, the URL a deployment serves on this machine."""
        return (self.env.get("SITE_URL") or served).rstrip("/")

    def deployment_defaults(self, served: str) -> dict[str, str]:
        """SITE_URL and the certificate's files, as the Compose and stack files read them,
        for a deployment serving ``served`` (``up`` sets the same; any Compose command needs
        them, or a container it starts would refuse to run without SITE_URL)."""
        return {
            "SITE_URL": self.site_url(served),
            "TLS_CERT_FILE": str(self.tls_cert_file.resolve()),
            "TLS_KEY_FILE": str(self.tls_key_file.resolve()),
        }

    @property
    def tls_cert_file(self) -> Path:
        """TLS_CERT_FILE, else the self-signed certificate's place in the secrets directory."""
        return Path(self.env.get("TLS_CERT_FILE") or self.secrets_dir / "tls_cert.pem")

    @property
    def tls_key_file(self) -> Path:
        return Path(self.env.get("TLS_KEY_FILE") or self.secrets_dir / "tls_key.pem")

    @property
    def secrets_dir(self) -> Path:
        """deploy/secrets, or SAMPLEAPP_SECRETS_DIR (the Compose file reads the same variable)."""
        return Path(self.env.get("SAMPLEAPP_SECRETS_DIR") or DEFAULT_SECRETS_DIR)

    @property
    def cluster(self) -> Cluster:
        return nodes.settings(self.env)


def load(values: Mapping[str, str] | None = None, env_file: Path = ENV_FILE) -> Settings:
    """deploy/.env, overridden by the environment, overridden by ``values``."""
    return Settings(MappingProxyType({**env_file_values(env_file), **os.environ, **(values or {})}))
