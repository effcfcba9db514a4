"""The proxy's certificate: the operator's files, or a self-signed one made once.

The deployments serve HTTPS (``make run`` stays plain HTTP). ``TLS_CERT_FILE`` and
``TLS_KEY_FILE`` name a certificate chain and its key in PEM; without them the first ``up`` (or
``cluster deploy``, or ``secrets init``) makes a self-signed certificate for localhost,
127.0.0.1 and SITE_URL's host into the secrets directory, and later runs keep it, so a
browser's exception and a fingerprint someone wrote down stay valid. ``up`` prints its SHA-256
fingerprint, which is what a browser shows for it. Compose mounts the two files as the proxy's
secrets; the cluster makes Swarm secrets of them, named after their content (a Swarm secret
cannot change under its name, so a new certificate is a new name and rolls the proxy).
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sampleapp.errors import PreflightError
from sampleapp.ops.settings import Settings
from sampleapp.progress import Progress

DAYS = 825  # the longest validity browsers accept for a certificate they are told to trust


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    given: bool  # the operator's files (TLS_CERT_FILE), not the self-signed one

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the first certificate, as browsers show it: ``AB:CD:...``."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

    @property
    def id(self) -> str:
        """8 hex digits of the pair's content: the cluster's secret names carry it."""
        return hashlib.sha256(self.cert.read_bytes() + self.key.read_bytes()).hexdigest()[:8]

    def present(self) -> bool:
        return self.cert.is_file() and self.key.is_file()


def certificate(settings: Settings) -> Certificate:
    """The files the proxy will serve (they may not exist yet)."""
    given = settings.env.get("TLS_CERT_FILE", "") or settings.env.get("TLS_KEY_FILE", "")
    return Certificate(settings.tls_cert_file, settings.tls_key_file, bool(given))


def check(settings: Settings) -> Certificate:
    """Pre-flight: the operator's files are there and readable PEM, or openssl can make one."""
    found = certificate(settings)
    if found.given:
        for variable, path in (("TLS_CERT_FILE", found.cert), ("TLS_KEY_FILE", found.key)):
            if not path.is_file():
                raise PreflightError(
                    f"{variable} is {path}, which does not exist: give the PEM file there, or "
                    "unset TLS_CERT_FILE and TLS_KEY_FILE for a self-signed certificate"
                )
        try:  # the chain parses and the key is its key, as nginx will require
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(found.cert, found.key)
        except (ssl.SSLError, OSError) as exc:
            raise PreflightError(
                f"nginx could not serve {found.cert} with {found.key} ({exc}): give the PEM "
                "certificate chain in TLS_CERT_FILE and its private key in TLS_KEY_FILE"
            ) from exc
    elif not found.present() and shutil.which("openssl") is None:
        raise PreflightError(
            "openssl is not installed, and it makes the self-signed certificate: "
            "`apt-get install openssl`, or set TLS_CERT_FILE and TLS_KEY_FILE"
        )
    return found


def ensure(settings: Settings, site_url: str) -> tuple[Certificate, bool]:
    """The certificate, made now (self-signed, for ``site_url``'s host too) when there is
    none; returns it and whether it was made."""
    found = check(settings)
    if found.given or found.present():
        return found, False
    host = urlsplit(site_url).hostname or "localhost"
    names = dict.fromkeys(["localhost", "127.0.0.1", "::1", host])
    alt = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    found.cert.parent.mkdir(parents=True, exist_ok=True)
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    argv += [
        "-nodes",
        "-days",
        str(DAYS),
        "-subj",
        f"/CN={host}",
        "-addext",
        f"subjectAltName={alt}",
    ]
    argv += ["-keyout", str(found.key), "-out", str(found.cert)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PreflightError(f"openssl could not make a certificate: {done.stderr.strip()}")
    for path in (found.cert, found.key):
        path.chmod(0o644)  # read by the proxy's own user; the directory stays private (0700)
    return found, True


def deployment_values(settings: Settings, served: str, progress: Progress) -> dict[str, str]:
    """What the Compose and stack files read for HTTPS and the site's address (SITE_URL,
    TLS_CERT_FILE, TLS_KEY_FILE, SAMPLEAPP_TLS_ID), the certificate made first if need be."""
    values = settings.deployment_defaults(served)
    found, made = ensure(settings, values["SITE_URL"])
    if made:
        host = urlsplit(values["SITE_URL"]).hostname
        progress.step(f"Made a self-signed certificate for {host}: {found.cert}")
    return {**values, "SAMPLEAPP_TLS_ID": found.id}


def verifying(found: Certificate) -> ssl.SSLContext:
    """A client context trusting the system's authorities and this certificate (so the
    self-signed one verifies too)."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(found.cert))
    return context


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
