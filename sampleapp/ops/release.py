"""The image pipeline the thesis ran on Travis: test, build, tag, push, and check what landed.

The tags are the thesis's three, renamed for a CI that is not Travis: the first 8 characters of
the commit, ``build-<N>`` and ``latest``. After pushing, each tag's manifest digest is read back
from the registry (``HEAD /v2/<name>/manifests/<tag>``) and must be the digest ``docker push``
reported, so a partial or racing push cannot pass unnoticed. The same steps run in the GitHub
Actions workflow with docker/metadata-action and docker/build-push-action.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import engine, images
from sampleapp.progress import Progress

BUILD_COUNTER = images.REPO / "var" / "build-number"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@dataclass(frozen=True)
class Release:
    repository: str  # registry/name, e.g. 127.0.0.1:5000/sampleapp
    tags: tuple[str, ...]
    digest: str

    def refs(self) -> list[str]:
        return [f"{self.repository}:{tag}" for tag in self.tags]


def next_build_number(counter: Path = BUILD_COUNTER) -> int:
    """The local stand-in for CI's build number: one more than the last release from here."""
    counter.parent.mkdir(parents=True, exist_ok=True)
    last = int(counter.read_text().strip() or 0) if counter.exists() else 0
    counter.write_text(f"{last + 1}\n")
    return last + 1


def tags_for(revision: str, build_number: int) -> tuple[str, ...]:
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise PreflightError(
            f"Expected a git commit to tag the image with, found {revision!r}: "
            "run the release from a git checkout with at least one commit"
        )
    return (revision[:8], f"build-{build_number}", "latest")


def registry_preflight(registry: str) -> None:
    try:
        response = httpx.get(f"http://{registry}/v2/", timeout=5)
    except httpx.HTTPError as exc:
        raise PreflightError(
            f"No registry answers at http://{registry}/v2/ ({exc}): start one, e.g. "
            "`docker-registry serve /etc/docker/registry/config.yml`, or pass --registry"
        ) from exc
    if response.status_code not in (200, 401):
        raise PreflightError(
            f"Expected a Docker registry at {registry} (HTTP 200 or 401 on /v2/) "
            f"but found HTTP {response.status_code}: check --registry"
        )


def run_fast_tests(progress: Progress) -> None:
    progress.step("Running the fast tests (the app's suite on SQLite, no browser)")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not browser", "sampleapp/web"],
        cwd=images.REPO,
        capture_output=True,
        text=True,
    )
    progress.log(result.stdout + result.stderr)
    if result.returncode != 0:
        raise StackError(
            "The tests failed, so nothing was built or pushed:\n"
            f"{engine.tail(result.stdout, 15)}\nFull output: {progress.log_path}"
        )
    progress.info(engine.tail(result.stdout, 1))


def remote_digest(registry: str, name: str, tag: str) -> str:
    response = httpx.head(
        f"http://{registry}/v2/{name}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    if response.status_code != 200:
        raise StackError(
            f"{registry}/{name}:{tag} is not in the registry (HTTP {response.status_code})"
        )
    return response.headers["Docker-Content-Digest"]


def push(ref: str) -> str:
    """Push one tag; returns the manifest digest ``docker push`` reported."""
    out = engine.docker("push", ref, timeout=1800, fix="check the registry's disk and logs")
    found = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    if not found:
        raise StackError(f"docker push {ref} reported no digest: {engine.tail(out, 5)}")
    return found.group(1)


def release(
    registry: str,
    build_number: int | None = None,
    run_tests: bool = True,
    progress: Progress | None = None,
) -> Release:
    progress = progress or Progress(images.REPO / "var" / "sampleapp-release.log")
    progress.step("Pre-flight checks (nothing is built or pushed yet)")
    engine.ensure_engine()
    registry_preflight(registry)
    revision = images.git_revision()
    tags = tags_for(revision, build_number or next_build_number())
    if run_tests:
        run_fast_tests(progress)
    repository = f"{registry}/{images.APP_REPOSITORY}"
    refs = [f"{repository}:{tag}" for tag in tags]
    images.build_app_image(progress, tags=(images.APP_IMAGE, *refs))
    digests = {}
    for ref in refs:
        progress.step(f"Pushing {ref}")
        digests[ref] = push(ref)
    progress.step("Checking each tag's digest in the registry")
    for ref, pushed in digests.items():
        tag = ref.rpartition(":")[2]
        landed = remote_digest(registry, images.APP_REPOSITORY, tag)
        if landed != pushed:
            raise StackError(f"{ref}: pushed {pushed} but the registry has {landed}: push again")
    digest = next(iter(digests.values()))
    if set(digests.values()) != {digest}:
        raise StackError(f"The three tags point at different images: {digests}")
    progress.done(f"Released {repository} as {', '.join(tags)} ({digest})")
    return Release(repository, tags, digest)
