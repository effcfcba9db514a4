"""The image pipeline the thesis ran on Travis: test, build, tag, push, and check what landed.

The tags are the thesis's three, renamed for a CI that is not Travis: the first 8 characters of
the commit, ``build-<N>`` and ``latest``. After pushing, each tag's manifest digest is read back
from the registry (``HEAD /v2/<name>/manifests/<tag>``) and must be the digest ``docker push``
reported, so a partial or racing push cannot pass unnoticed. The same steps run in the GitHub
Actions workflow with docker/metadata-action and docker/build-push-action.

Everything that can fail before a push is checked first and says how to fix it: the test tools
(``make venv`` installs only the app; ``make venv-dev`` adds pytest), the engine, and a registry
that takes pushes without a login (the project's own: ``deploy/registry/config.yml``). A failed
test run shows the end of pytest's own output, whatever stopped it. The local build number only
counts releases that were pushed and verified, so a failure never uses one up.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, STDOUT

import httpx

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import engine, images
from sampleapp.ops.settings import REPO
from sampleapp.progress import Progress

BUILD_COUNTER = REPO / "var" / "build-number"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json"
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
    return (int(counter.read_text().strip() or 0) if counter.exists() else 0) + 1


def record_build_number(number: int, counter: Path = BUILD_COUNTER) -> None:
    """Called once a release is pushed and verified: the next one gets a higher number."""
    counter.parent.mkdir(parents=True, exist_ok=True)
    counter.write_text(f"{max(number, next_build_number(counter) - 1)}\n")


@dataclass(frozen=True)
class FastTests:
    """The interpreter that runs pytest, and pytest's arguments (``make test-fast``'s selection)."""

    python: str = sys.executable
    args: tuple[str, ...] = ("-q", "-x", "-m", "not browser", "sampleapp/web")


# pytest's exit statuses (pytest.ExitCode), said in words: pytest itself may be what is missing.
PYTEST_OUTCOMES = {
    1: "some tests failed",
    2: "the run was interrupted, e.g. by an error while collecting the tests",
    3: "pytest hit an internal error",
    4: "pytest could not start: a usage or configuration error",
    5: "no tests were collected",
}


def registry_hint() -> str:
    install = "" if shutil.which("docker-registry") else "`apt-get install docker-registry`, then "
    return (
        f"start the project's registry in another terminal ({install}`cd {REPO} && "
        "docker-registry serve deploy/registry/config.yml`: 127.0.0.1:5000, no login), "
        "or pass --registry"
    )


def registry_preflight(registry: str) -> None:
    url = f"http://{registry}/v2/"
    try:
        status = httpx.get(url, timeout=5).status_code
    except httpx.HTTPError as exc:
        raise PreflightError(f"No registry answers at {url} ({exc}): {registry_hint()}") from exc
    if status == 401:
        raise PreflightError(
            f"The registry at {registry} demands a login (HTTP 401 on /v2/), but the release "
            f"reads the pushed digests back without one: {registry_hint()}"
        )
    if status != 200:
        raise PreflightError(
            f"Expected a Docker registry at {registry} (HTTP 200 on /v2/) "
            f"but found HTTP {status}: check --registry"
        )


def require_test_tools(tests: FastTests) -> None:
    """The release runs pytest; `make venv` and `make run` install the app without it."""
    args = [tests.python, "-c", "import pytest, pytest_django"]
    probe = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if probe.returncode != 0:
        found = engine.tail(probe.stderr, 1) or f"exit status {probe.returncode}"
        raise PreflightError(
            f"The release runs the fast tests first, but {tests.python} has no test tools "
            f"({found}): run `make venv-dev` in {REPO} (it adds pytest and the other "
            "test tools to .venv), then run the release again with .venv/bin/sampleapp"
        )


def run_fast_tests(progress: Progress, tests: FastTests = FastTests()) -> None:
    progress.step("Running the fast tests (the app's suite on SQLite, no browser)")
    # The suite chooses its own database (SAMPLEAPP_TEST_DB): a deployment's settings exported
    # for Compose (POSTGRES_USER, ...) would send it to a production database instead.
    env = engine.environment_without("POSTGRES_", "DATABASE_URL")
    args = [tests.python, "-m", "pytest", *tests.args]
    # stderr merged: pytest's own errors (a bad conftest, a usage error) are shown too.
    result = subprocess.run(args, cwd=REPO, env=env, stdout=PIPE, stderr=STDOUT, text=True)
    progress.log(result.stdout)
    if (code := result.returncode) != 0:
        outcome = PYTEST_OUTCOMES.get(code, f"pytest exited {code}")
        said = engine.tail(result.stdout, 25) or f"(pytest printed nothing; exit {code})"
        full = f"\nFull output: {progress.log_path}" if progress.log_path else ""
        raise StackError(
            f"The fast tests did not pass: {outcome}. Nothing was built or pushed, and no build "
            f"number was used. The end of pytest's output:\n{said}{full}"
        )
    progress.info(engine.tail(result.stdout, 1))


def remote_digest(registry: str, name: str, tag: str, missing: str | None = None) -> str:
    """The tag's manifest digest in the registry; ``missing`` (when given) if it has no such tag."""
    url = f"http://{registry}/v2/{name}/manifests/{tag}"
    response = httpx.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=10)
    if response.status_code == 200:
        return response.headers["Docker-Content-Digest"]
    if missing is not None:
        return missing
    raise StackError(
        f"{registry}/{name}:{tag} is not in the registry (HTTP {response.status_code})"
    )


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
    *,
    tests: FastTests = FastTests(),
    counter: Path = BUILD_COUNTER,
) -> Release:
    progress = progress or Progress(REPO / "var" / "sampleapp-release.log")
    progress.step("Pre-flight checks (nothing is built or pushed yet)")
    if run_tests:
        require_test_tools(tests)
    engine.ensure_engine()
    registry_preflight(registry)
    revision = images.git_revision()
    number = build_number or next_build_number(counter)
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise PreflightError(
            f"Expected a git commit to tag the image with, found {revision!r}: "
            "run the release from a git checkout with at least one commit"
        )
    tags = (revision[:8], f"build-{number}", "latest")
    if run_tests:
        run_fast_tests(progress, tests)
    repository = f"{registry}/{images.APP_REPOSITORY}"
    refs = [f"{repository}:{tag}" for tag in tags]
    images.build_app_image(progress, tags=(images.APP_IMAGE, *refs))
    digests = {}
    for ref in refs:
        progress.step(f"Pushing {ref}")
        digests[ref] = push(ref)
    progress.step("Checking each tag's digest in the registry")
    for tag, (ref, pushed) in zip(tags, digests.items(), strict=True):
        landed = remote_digest(registry, images.APP_REPOSITORY, tag)
        if landed != pushed:
            raise StackError(f"{ref}: pushed {pushed} but the registry has {landed}: push again")
    digest = next(iter(digests.values()))
    if set(digests.values()) != {digest}:
        raise StackError(f"The three tags point at different images: {digests}")
    record_build_number(number, counter)
    progress.done(f"Released {repository} as {', '.join(tags)} ({digest})")
    return Release(repository, tags, digest)
