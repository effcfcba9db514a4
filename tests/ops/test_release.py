"""The image pipeline against a real local registry: test, build, tag three ways, push, verify."""

from __future__ import annotations

import json

import pytest

from sampleapp.errors import PreflightError
from sampleapp.ops import engine, images, release
from sampleapp.progress import Progress
from tests.ops.conftest import Registry

pytestmark = pytest.mark.docker


def test_release_pushes_sha8_build_n_and_latest_that_pull_back_to_one_digest(
    app_image: dict[str, str], local_registry: Registry, tmp_path
) -> None:
    revision = images.git_revision()
    done = release.release(
        local_registry.address, build_number=7, progress=Progress(tmp_path / "log")
    )
    try:
        assert done.tags == (revision[:8], "build-7", "latest")
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
    with pytest.raises(PreflightError, match=r"No registry answers at http://127\.0\.0\.1:9/v2/"):
        release.release("127.0.0.1:9", progress=Progress(tmp_path / "log"))


def test_the_build_number_counts_up_from_the_last_local_release(tmp_path) -> None:
    counter = tmp_path / "build-number"
    assert [release.next_build_number(counter) for _ in range(3)] == [1, 2, 3]


def test_a_rebuild_leaves_no_untagged_sampleapp_image_behind(
    app_image: dict[str, str], tmp_path
) -> None:
    images.build_app_image(Progress(tmp_path / "log"))
    containers = engine.docker("ps", "-aq").split()
    in_use = (
        {i[7:19] for i in engine.docker("inspect", "--format", "{{.Image}}", *containers).split()}
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
    assert config["Healthcheck"]["Test"] == ["CMD", "sampleapp", "healthcheck"]
    labels = config["Labels"]
    for key in ("revision", "version", "created", "source"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.revision"] == images.git_revision()
    assert "MAINTAINER" not in (config.get("Author") or "")
    roles = engine.docker("run", "--rm", images.APP_IMAGE, "--help")
    for role in ("web", "migrate", "proxy", "dns", "register-db", "healthcheck"):
        assert f"    {role} " in roles or f"    {role}\n" in roles, role
