"""The image pipeline against a real local registry: test, build, tag three ways, push, verify.

Also what goes wrong before a push, as a person following the README meets it: an environment
without pytest (``make venv``), a test run that fails or cannot start, a registry that demands a
login (Debian's own config) or none at all; and the registry config the project ships.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import engine, images, release, settings
from sampleapp.progress import Progress
from tests.ops.conftest import Registry
from tests.support.etcd import free_port, wait_until

pytestmark = pytest.mark.docker

SHIPPED_REGISTRY_CONFIG = settings.REPO / "deploy" / "registry" / "config.yml"


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    """A build counter whose last release was number 41."""
    path = tmp_path / "build-number"
    path.write_text("41\n")
    return path


# The tests a release runs first are the host stream's (`make test` runs all of them there);
# here one real file of them stands for the selection, and the selection is checked below.
ONE_FAST_FILE = ("-q", "-x", "-m", "not browser", "sampleapp/web/pages/tests/test_static_pages.py")


def test_a_release_runs_make_test_fasts_selection() -> None:
    recipe = (settings.REPO / "Makefile").read_text().split("\ntest-fast:", 1)[1]
    command = shlex.split(recipe.split("\n")[1].strip())
    assert command[:3] == ["$(PY)", "-m", "pytest"], command
    assert set(command[3:]) <= set(release.FastTests().args), (command, release.FastTests())


def test_release_pushes_sha8_build_n_and_latest_that_pull_back_to_one_digest(
    app_image: dict[str, str], local_registry: Registry, tmp_path
) -> None:
    revision = images.git_revision()
    counter = tmp_path / "build-number"
    log = tmp_path / "log"
    done = release.release(
        local_registry.address,
        build_number=7,
        progress=Progress(log),
        counter=counter,
        tests=release.FastTests(args=ONE_FAST_FILE),
    )
    assert re.search(r"\b\d+ passed\b", log.read_text()), "the tests' outcome is not in the log"
    try:
        assert done.tags == (revision[:8], "build-7", "latest")
        assert release.next_build_number(counter) == 8  # counted once pushed and verified
        for ref in done.refs():
            engine.docker("rmi", ref)
            engine.docker("pull", ref)
            pulled = json.loads(engine.docker("image", "inspect", ref))[0]
            assert f"{done.repository}@{done.digest}" in pulled["RepoDigests"], ref
            labels = pulled["Config"]["Labels"]
            assert labels["org.opencontainers.image.revision"] == revision
    finally:  # the registry lives in a tmp dir; its tags would otherwise pile up on the host
        engine.docker("rmi", *done.refs(), check=False)


def test_release_refuses_to_start_when_no_registry_answers(docker_engine, tmp_path) -> None:
    with pytest.raises(
        PreflightError, match=r"No registry answers at http://127\.0\.0\.1:9/v2/"
    ) as e:
        release.release("127.0.0.1:9", progress=Progress(tmp_path / "log"))
    assert "docker-registry serve deploy/registry/config.yml" in str(e.value)


def test_the_build_number_counts_only_recorded_releases(tmp_path) -> None:
    counter = tmp_path / "build-number"
    assert release.next_build_number(counter) == 1
    assert release.next_build_number(counter) == 1  # asking uses nothing up
    release.record_build_number(1, counter)
    assert release.next_build_number(counter) == 2
    release.record_build_number(9, counter)  # --build-number 9
    release.record_build_number(3, counter)  # a lower one given by hand never counts back
    assert release.next_build_number(counter) == 10


def test_without_pytest_the_release_names_the_fix_and_uses_no_build_number(
    local_registry: Registry, counter: Path, tmp_path
) -> None:
    """What `make venv` (or `make run`) gives: the app installed, the test tools not."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    no_pytest = release.FastTests(python=str(tmp_path / "venv" / "bin" / "python"))
    with pytest.raises(PreflightError) as e:
        release.release(
            local_registry.address, tests=no_pytest, counter=counter, progress=Progress()
        )
    assert "No module named 'pytest'" in str(e.value)
    assert "run `make venv-dev`" in str(e.value)
    assert counter.read_text() == "41\n"


def test_a_failed_test_run_shows_what_failed_and_uses_no_build_number(
    local_registry: Registry, counter: Path, tmp_path
) -> None:
    failing = tmp_path / "test_arithmetic.py"
    failing.write_text("def test_the_sum():\n    assert 1 + 1 == 3, 'the sum is off'\n")
    tests = release.FastTests(args=("-q", "-p", "no:cacheprovider", str(failing)))
    log = tmp_path / "release.log"
    with pytest.raises(StackError) as e:
        release.release(
            local_registry.address, tests=tests, counter=counter, progress=Progress(log)
        )
    said = str(e.value)
    assert "did not pass: some tests failed" in said
    assert "FAILED" in said and "test_the_sum" in said and "the sum is off" in said
    assert f"Full output: {log}" in said
    assert counter.read_text() == "41\n"


def test_a_test_run_that_cannot_start_says_why_not_that_tests_failed(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest stops before any test, on stderr: the cause used to stay in the log."""
    monkeypatch.setenv("SAMPLEAPP_TEST_DB", "mysql")
    with pytest.raises(StackError) as e:
        release.run_fast_tests(Progress(tmp_path / "log"))
    said = str(e.value)
    assert "tests failed" not in said.lower()
    assert "SAMPLEAPP_TEST_DB must be sqlite or postgres, not 'mysql'" in said


@contextmanager
def serve_registry(config: Path, workdir: Path) -> Iterator[str]:
    """``docker-registry serve <config>`` from ``workdir`` on a free loopback port; the address.

    The port is the only change, made with distribution's own override (REGISTRY_HTTP_ADDR).
    """
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "REGISTRY_HTTP_ADDR": address}
    with (workdir / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], cwd=workdir, env=env, stdout=log, stderr=log
        )

    def answers() -> bool:
        assert process.poll() is None, (workdir / "registry.log").read_text()
        try:
            return httpx.get(f"http://{address}/v2/", timeout=1).status_code in (200, 401)
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, 30, f"docker-registry serve {config} to answer")
        yield address
    finally:
        process.terminate()
        process.wait(10)


def test_a_registry_that_demands_a_login_is_refused_with_the_projects_registry_as_the_fix(
    tmp_path,
) -> None:
    """Debian's /etc/docker/registry/config.yml, which the old hint started, wants a login."""
    debian = yaml.safe_load(Path("/etc/docker/registry/config.yml").read_text())
    assert "htpasswd" in debian["auth"]
    debian["storage"]["filesystem"]["rootdirectory"] = str(tmp_path / "data")
    config = tmp_path / "debian.yml"
    config.write_text(yaml.safe_dump(debian))
    with serve_registry(config, tmp_path) as address:
        with pytest.raises(PreflightError, match="demands a login") as e:
            release.registry_preflight(address)
        assert "docker-registry serve deploy/registry/config.yml" in str(e.value)


def tiny_image(ref: str) -> None:
    """A one-file image made with ``docker import``: something real to push, built at once."""
    data = b"pushed by the registry config test\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo("hello.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    subprocess.run(
        ["docker", "import", "-", ref], input=buffer.getvalue(), check=True, capture_output=True
    )


def test_the_shipped_registry_config_listens_on_loopback_without_login_and_takes_a_push(
    docker_engine, tmp_path
) -> None:
    config = yaml.safe_load(SHIPPED_REGISTRY_CONFIG.read_text())
    assert config["http"]["addr"] == "127.0.0.1:5000"
    assert "auth" not in config
    assert config["storage"]["filesystem"]["rootdirectory"] == "var/registry"  # git-ignored
    with serve_registry(SHIPPED_REGISTRY_CONFIG, tmp_path) as address:
        release.registry_preflight(address)
        ref = f"{address}/sampleapp-registry-check:1"
        tiny_image(ref)
        try:
            pushed = release.push(ref)
            assert release.remote_digest(address, "sampleapp-registry-check", "1") == pushed
        finally:
            engine.docker("rmi", ref, check=False)
        stored = tmp_path / "var/registry/docker/registry/v2/repositories"
        assert (stored / "sampleapp-registry-check").is_dir()


def test_a_rebuild_leaves_no_untagged_sampleapp_image_behind(
    app_image: dict[str, str], tmp_path
) -> None:
    # Held to the end: a build of another test stream leaves its steps untagged while it runs.
    with images.build_lock():
        images.build_app_image(Progress(tmp_path / "log"))
        containers = engine.docker("ps", "-aq").split()
        in_use = (
            {
                i[7:19]
                for i in engine.docker("inspect", "--format", "{{.Image}}", *containers).split()
            }
            if containers
            else set()
        )
        for title in ("sampleapp", "sampleapp-build"):
            left = engine.docker(
                "images",
                "-q",
                "--filter=dangling=true",
                f"--filter=label=org.opencontainers.image.title={title}",
            )
            assert set(left.split()) - in_use == set(), title
    assert engine.image_exists(images.BUILD_STAGE_IMAGE)


def test_the_image_runs_every_role_as_a_non_root_user_with_a_healthcheck_and_oci_labels(
    app_image: dict[str, str],
) -> None:
    config = json.loads(engine.docker("image", "inspect", images.APP_IMAGE))[0]["Config"]
    assert config["User"] == "sampleapp"
    assert config["Entrypoint"] == ["sampleapp"]
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "sampleapp.healthcheck", "web"]
    labels = config["Labels"]
    for key in ("revision", "version", "created", "source"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.revision"] == images.git_revision()
    assert "MAINTAINER" not in (config.get("Author") or "")
    roles = engine.docker("run", "--rm", images.APP_IMAGE, "--help")
    for role in ("web", "migrate", "proxy", "dns", "register-db"):
        assert f"    {role} " in roles or f"    {role}\n" in roles, role
    check = ["docker", "run", "--rm", "--entrypoint", "python", images.APP_IMAGE]
    usage = engine.run([*check, "-m", "sampleapp.healthcheck"], check=False)
    assert usage.returncode == 2 and "register-db" in usage.stdout, usage
