"""Build the project's image (every role runs it) on the bases ``bases.resolve`` finds or makes.

Where no registry answers, the same Dockerfile is built on a local ``PYTHON_BASE`` made from
Debian packages (see ``bases``). Python packages reach the image through a wheelhouse built on
the host, because containers do not share the host's PyPI certificate setup. Each step is
skipped when its result already exists, so a rebuild is quick.

So is the app image when its inputs did not change (their hash is its ``org.sampleapp.inputs``
label): a rebuild would get a new ID, and Compose would recreate every container running it.
proxy, dns and register-db run ``sampleapp-infra:<hash of only their inputs>``, set on the first
app image built from those inputs, so a release that changes only the app leaves them running.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sampleapp import __version__
from sampleapp.errors import StackError
from sampleapp.ops.bases import resolve
from sampleapp.ops.build_context import build_inputs, wheels_digest
from sampleapp.ops.engine import docker, image_id, image_labels, images_in_use, probe, run
from sampleapp.ops.settings import REPO
from sampleapp.progress import Progress

APP_REPOSITORY = "sampleapp"
# Pinned to the minor version (never :latest); the release adds sha8 / build-N / latest tags.
APP_IMAGE = f"{APP_REPOSITORY}:{'.'.join(__version__.split('.')[:2])}"
# The Dockerfile's build stage, kept tagged as the cache of the next build.
BUILD_STAGE_IMAGE = "sampleapp-build:cache"
# The app image's labels: hashes of everything it is built from, and of the infra roles' part.
INPUTS_LABEL = "org.sampleapp.inputs"
INFRA_LABEL = "org.sampleapp.infra"
# proxy, dns and register-db run `sampleapp-infra:<12 hex of INFRA_LABEL>`. A superseded one is
# removed when no container runs it and it is older than INFRA_GRACE.
INFRA_REPOSITORY = "sampleapp-infra"
INFRA_GRACE = dt.timedelta(hours=1)
# Held while the project's images are built or pruned on this machine (see build_lock).
BUILD_LOCK = Path(tempfile.gettempdir()) / "sampleapp-image-build.lock"
_held = 0  # build_lock's depth in this process


@contextmanager
def file_lock(path: Path, *, exclusive: bool = True) -> Iterator[None]:
    """``flock`` on ``path`` (created if missing), held while the block runs: exclusive, or
    shared with other shared holders. Opened read-only, so another user's lock file in a sticky
    /tmp can be locked though not created; closing the file releases the lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextmanager
def build_lock() -> Iterator[None]:
    """One build or prune of the project's images at a time on this machine (two checkouts, two
    terminals, test streams side by side on one engine), re-entrant within a process.

    The engine's builder leaves each step's image untagged until the next step starts from it,
    so a prune of untagged images run meanwhile (another build's) could remove it, and two
    builds of one tag race to set it.
    """
    global _held
    if _held:
        _held += 1
        try:
            yield
        finally:
            _held -= 1
        return
    with file_lock(BUILD_LOCK):
        _held = 1
        try:
            yield
        finally:
            _held = 0


def build_wheelhouse(progress: Progress, root: Path = REPO) -> None:
    """Wheels of the project and its pinned dependencies, built with the host's pip."""
    progress.step("Building the wheelhouse (project + pinned dependencies)")
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir(exist_ok=True)
    for old in wheelhouse.glob("sampleapp-*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheelhouse)]
    args = [*pip, "-c", str(root / "requirements.lock"), str(root)]
    run(args, what="pip wheel", fix="check that PyPI is reachable from this machine", timeout=1800)


def git_revision(root: Path = REPO) -> str:
    """HEAD's commit, or "unknown" for a tree outside git or without a commit yet."""
    args = ["git", "-C", str(root), "rev-parse", "HEAD"]
    out = probe(args, ("not a git repository", "argument 'HEAD'", "Use '--'", "git <command>"))
    return "unknown" if out is None else out.strip()


def _infra_tag(ref: str) -> str | None:
    infra = image_labels(ref).get(INFRA_LABEL)
    return f"{INFRA_REPOSITORY}:{infra[:12]}" if infra else None


def infra_image(ref: str = APP_IMAGE) -> str:
    """``sampleapp-infra:<12 hex of ref's infra label>``, made by :func:`ensure_infra_image`.

    Read from the image, not the tree: an image built before the tree changed keeps its tag.
    """
    tag = _infra_tag(ref)
    if tag is None:
        raise StackError(
            f"{ref} has no {INFRA_LABEL} label (it was not built by this version of "
            "sampleapp): run `sampleapp image build`"
        )
    return tag


def ensure_infra_image(ref: str = APP_IMAGE, progress: Progress | None = None) -> str:
    """The image proxy, dns and register-db should run with the app image ``ref``.

    Its infra tag, made from ``ref`` when no image has that tag yet; ``ref`` itself when it has
    no infra label (an image made elsewhere: every role runs it, as before).
    """
    tag = _infra_tag(ref)
    if tag is None:
        return ref
    if image_id(tag) is None:
        docker("tag", ref, tag)
        if progress is not None:
            progress.info(f"tagged {ref} as {tag} (proxy, dns and db-dns run it)")
    return tag


def build_app_image(
    progress: Progress, tags: tuple[str, ...] = (APP_IMAGE,), *, context: Path = REPO
) -> dict[str, str]:
    """Build the project image (every role) from ``context``; returns the base images used.

    Skipped when ``APP_IMAGE`` already carries the hash of these inputs (the other ``tags`` are
    then set on it), so an unchanged tree keeps its image ID. The build stage is tagged too, so
    that superseded build images can be pruned without losing the current one's cache.
    """
    with build_lock():
        return _build_app_image(progress, tags, context)


def _build_app_image(progress: Progress, tags: tuple[str, ...], context: Path) -> dict[str, str]:
    tags = (APP_IMAGE, *(tag for tag in tags if tag != APP_IMAGE))
    bases = resolve(progress)
    python_base = bases["SAMPLEAPP_PYTHON_IMAGE"]
    revision = git_revision(context)
    # Hashed before the wheelhouse and the build read the tree: an edit made meanwhile makes the
    # next build differ, never a change go unbuilt.
    inputs = build_inputs(context, base=image_id(python_base) or python_base, revision=revision)
    if image_labels(APP_IMAGE).get(INPUTS_LABEL) == inputs.app_hash:
        same = f"its build inputs {inputs.app_hash[:12]} did not change"
        progress.step(f"{APP_IMAGE} is up to date ({same}): build skipped")
        for tag in tags[1:]:
            docker("tag", APP_IMAGE, tag)
    else:
        build_wheelhouse(progress, context)
        inputs = replace(inputs, wheels=wheels_digest(context))
        progress.step(f"Building {', '.join(tags)} on {python_base}")
        build_args = {"PYTHON_BASE": python_base, "VERSION": __version__, "REVISION": revision}
        build_args["CREATED"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        args = ["build", "-q", *(f"--build-arg={k}={v}" for k, v in build_args.items())]
        fix = "read the build output above; `sampleapp image build --debug` shows more"
        stage = ("--target", "build", "-t", BUILD_STAGE_IMAGE)
        docker(*args, *stage, str(context), timeout=1800, fix=fix)
        labels = {INPUTS_LABEL: inputs.app_hash, INFRA_LABEL: inputs.infra_hash}
        args += [f"--label={k}={v}" for k, v in labels.items()] + [f"--tag={t}" for t in tags]
        docker(*args, str(context), timeout=1800, fix=fix)
    ensure_infra_image(APP_IMAGE, progress)
    if pruned := prune_superseded_images():
        progress.info(f"removed {pruned} superseded sampleapp image(s)")
    return bases


def prune_infra_tags(repository: str = INFRA_REPOSITORY, grace: dt.timedelta = INFRA_GRACE) -> int:
    """Remove the infra tags no container was created from, but the current one and young ones.

    Young is less than ``grace`` old: it may belong to a stack that another build is starting.
    Returns how many went.
    """
    # A container names its image: Compose resolves that name again on the next `up`.
    keep = {_infra_tag(APP_IMAGE), *images_in_use()}
    fields = "{{.Repository}}:{{.Tag}} {{.CreatedAt}}"
    listing = docker("image", "ls", "--format", fields, repository)
    now = dt.datetime.now(dt.UTC)
    removed = 0
    for line in listing.splitlines():
        ref, created = line.split(" ", 1)
        age = now - dt.datetime.strptime(created[:25], "%Y-%m-%d %H:%M:%S %z")
        if ref not in keep and age >= grace:
            # Docker refuses ("conflict") when a container created meanwhile runs its last tag.
            removed += bool(probe(["docker", "rmi", ref], ("conflict: unable to", "No such")))
    return removed


def prune_superseded_images() -> int:
    """Remove the project's images that earlier builds left and no container uses.

    Returns how many went: untagged images labelled as this project's, and superseded infra
    tags (:func:`prune_infra_tags`). An infra tag a container runs is kept, whatever its age.
    """
    with build_lock():
        return _prune_superseded_images()


def _prune_superseded_images() -> int:
    removed = prune_infra_tags()
    titles = (APP_REPOSITORY, BUILD_STAGE_IMAGE.partition(":")[0])
    filters = [f"--filter=label=org.opencontainers.image.title={title}" for title in titles]

    def dangling() -> set[str]:
        query = ("images", "-q", "--filter=dangling=true")
        return {ref for label in filters for ref in docker(*query, label).split()}

    before = dangling()
    for label in filters:  # a prune already running (another build's) does this one's work
        probe(["docker", "image", "prune", "--force", label], ("already running",))
    return removed + len(before - dangling())


def image_size_mb(ref: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", ref).strip()) / 1e6
