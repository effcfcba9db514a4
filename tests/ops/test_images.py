"""The image build: what it hashes, when it is skipped, the infra tag, and the offline Debian base.

The build inputs are hashed on a throwaway copy of the context, changed one file at a time: an
app-only file changes the app image's hash but not the infra roles'; a discovery file changes
both. On a real engine, the context walked is the one ``docker build`` sends, and a second build
of an unchanged tree is skipped, so the image keeps its ID.

On a machine whose engine already holds the local bases the offline path never runs, so it is
built here under a throwaway tag: a fresh CI machine takes it, and it must work (and leak nothing)
there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampleapp.ops import bases, build_context, engine, images, settings
from sampleapp.progress import Progress
from tests.support.docker import app_image_tag, copy_build_context


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_build_context(tmp_path / "tree")


def hashes(root: Path) -> tuple[str, str]:
    found = build_context.build_inputs(root, base="sha256:base", revision="r1")
    return found.app_hash, found.infra_hash


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_an_app_only_change_changes_the_app_hash_but_not_the_infra_hash(tree: Path) -> None:
    app, infra = hashes(tree)
    append(tree / "sampleapp/web/templates/_footer.html", "<!-- a release -->\n")
    changed_app, same_infra = hashes(tree)
    assert changed_app != app
    assert same_infra == infra
    append(tree / "pyproject.toml", '\n[tool.ruff.format]\nquote-style = "double"\n')
    assert hashes(tree)[1] == infra, "linter settings are not part of what the roles run"


@pytest.mark.parametrize(
    "changed",
    [
        "sampleapp/discovery/keys.py",
        "sampleapp/healthcheck.py",
        "sampleapp/cli.py",
        "deploy/nginx/nginx.conf.j2",
        "sampleapp/web/static/css/custom.css",  # the proxy serves the image's collected files
        "requirements.lock",
        "Dockerfile",
    ],
)
def test_a_change_to_what_proxy_dns_or_register_db_run_changes_both_hashes(
    tree: Path, changed: str
) -> None:
    app, infra = hashes(tree)
    append(tree / changed, "\n# changed\n")
    assert hashes(tree)[0] != app
    assert hashes(tree)[1] != infra


def test_the_base_image_changes_both_hashes_and_the_revision_only_the_apps(tree: Path) -> None:
    first = build_context.build_inputs(tree, base="sha256:one", revision="r1")
    other_base = build_context.build_inputs(tree, base="sha256:two", revision="r1")
    other_revision = build_context.build_inputs(tree, base="sha256:one", revision="r2")
    assert other_base.app_hash != first.app_hash and other_base.infra_hash != first.infra_hash
    assert other_revision.app_hash != first.app_hash
    assert other_revision.infra_hash == first.infra_hash


def test_what_dockerignore_leaves_out_and_the_projects_own_wheel_change_nothing(
    tree: Path,
) -> None:
    before = hashes(tree)
    (tree / "sampleapp/discovery/__pycache__").mkdir(exist_ok=True)
    (tree / "sampleapp/discovery/__pycache__/keys.cpython-311.pyc").write_bytes(b"\0")
    (tree / "sampleapp/web/users/tests").mkdir(parents=True, exist_ok=True)
    (tree / "sampleapp/web/users/tests/test_new.py").write_text("x = 1\n")
    (tree / "docs").mkdir()
    (tree / "docs/NOTES.md").write_text("not in the context\n")
    (tree / "wheelhouse/sampleapp-0.1.0-py3-none-any.whl").write_bytes(b"rebuilt every build")
    assert hashes(tree) == before
    assert "docs/NOTES.md" not in build_context.context_files(tree)
    (tree / "wheelhouse/sampleapp-0.1.0-py3-none-any.whl").unlink()
    (tree / "wheelhouse/other-1.0-py3-none-any.whl").write_bytes(b"a new dependency")
    assert hashes(tree)[1] != before[1]


@pytest.mark.docker
def test_the_context_hashed_is_the_one_docker_build_sends(
    docker_engine: tuple[int, int], tmp_path: Path
) -> None:
    """A FROM-scratch image of `COPY . /ctx/` from the project's context holds those files."""
    tag = f"sampleapp-test/context:{os.getpid()}"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /ctx/\n")
    engine.docker("build", "-q", "-t", tag, "-f", str(dockerfile), str(settings.REPO))
    container = engine.docker("create", tag, "true").strip()
    try:
        exported = tmp_path / "context.tar"
        engine.docker("export", "--output", str(exported), container)
        listing = engine.run(["tar", "-tf", str(exported)]).stdout.split()
    finally:
        engine.docker("rm", container)
        engine.docker("rmi", tag)
    copied = sorted(p.removeprefix("ctx/") for p in listing if p.startswith("ctx/"))
    copied = [p for p in copied if p and not p.endswith("/")]
    # Docker always sends the Dockerfile and .dockerignore, but COPY leaves them out when ignored.
    expected = [
        p for p in build_context.context_files() if p not in ("Dockerfile", ".dockerignore")
    ]
    assert copied == expected


@pytest.mark.docker
def test_building_an_unchanged_tree_again_is_skipped_and_keeps_the_image_id(
    app_image: dict[str, str], tmp_path: Path
) -> None:
    # Held: another test stream may point APP_IMAGE at a new version for a while.
    with app_image_tag(moving=False):
        images.build_app_image(Progress(tmp_path / "first.log"))  # whatever the tree holds now
        before = engine.image_id(images.APP_IMAGE)
        images.build_app_image(Progress(tmp_path / "second.log"))
        assert engine.image_id(images.APP_IMAGE) == before
        infra = images.infra_image()
    assert "build skipped" in (tmp_path / "second.log").read_text()
    assert infra.startswith(f"{images.INFRA_REPOSITORY}:")
    assert engine.image_exists(infra)


@pytest.mark.docker
def test_a_superseded_infra_tag_goes_unless_a_container_runs_it(app_image: dict[str, str]) -> None:
    """Under a repository of the test's own, so no real infra tag is touched."""
    repository = f"sampleapp-test-infra-{os.getpid()}"
    unused, running = f"{repository}:unused", f"{repository}:running"
    for tag in (unused, running):
        engine.docker("tag", images.APP_IMAGE, tag)
    container = engine.docker("create", running, "dns").strip()
    try:
        assert images.prune_infra_tags(repository, grace=dt.timedelta(0)) == 1
        assert not engine.image_exists(unused)
        assert engine.image_exists(running)
        assert images.prune_infra_tags(repository, grace=dt.timedelta(hours=1)) == 0
    finally:
        engine.docker("rm", container)
        engine.docker("rmi", unused, running, check=False)


@pytest.fixture
def throwaway_tag(docker_engine: tuple[int, int]) -> Iterator[str]:
    tag = f"sampleapp-test/debian:{os.getpid()}"
    yield tag
    engine.docker("rmi", tag, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_the_local_debian_base_is_a_slim_bookworm_made_by_debootstrap(
    throwaway_tag: str, tmp_path
) -> None:
    bases.build_debian_rootfs(Progress(tmp_path / "log"), tag=throwaway_tag)
    config = json.loads(engine.docker("image", "inspect", throwaway_tag))[0]["Config"]
    assert config["Cmd"] == ["bash"]
    script = (
        "cat /etc/debian_version; ls /usr/share/doc | wc -l; ls /var/lib/apt/lists | wc -l; "
        "cat /etc/dpkg/dpkg.cfg.d/docker-slim; "
        "test -s /etc/ssl/certs/ca-certificates.crt && echo ca"
    )
    out = engine.docker("run", "--rm", throwaway_tag, "bash", "-c", script).splitlines()
    assert out[0].startswith("12."), out
    assert out[1:3] == ["0", "0"], "docs and apt lists are left out, as in debian:bookworm-slim"
    assert "path-exclude /usr/share/doc/*" in out
    assert out[-1] == "ca"
