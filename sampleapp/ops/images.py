"""Build the project's image, and local equivalents of public base images when none can be pulled.

On a machine that reaches Docker Hub the Dockerfile's public bases are used as they are. Here,
where no registry answers, the same Dockerfile is built on a local ``PYTHON_BASE`` made from
Debian packages: a ``debootstrap`` minbase rootfs imported with ``docker import``, then the small
Dockerfiles in ``deploy/images/local/`` (Python, PostgreSQL, etcd). Python packages reach the
image through a wheelhouse built on the host, because containers do not share the host's PyPI
certificate setup. Each step is skipped when its result already exists, so a rebuild is quick.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sampleapp import __version__
from sampleapp.errors import PreflightError, StackError
from sampleapp.ops.engine import docker, image_exists, registry_reachable, run
from sampleapp.progress import Progress

REPO = Path(__file__).resolve().parents[2]
LOCAL_DIR = REPO / "deploy" / "images" / "local"
WHEELHOUSE = REPO / "wheelhouse"
DEBIAN_LOCAL = "sampleapp-local/debian:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
APP_REPOSITORY = "sampleapp"
# Pinned to the minor version (never :latest); the release adds sha8 / build-N / latest tags.
APP_IMAGE = f"{APP_REPOSITORY}:{'.'.join(__version__.split('.')[:2])}"
# The Dockerfile's build stage, kept tagged as the cache of the next build.
BUILD_STAGE_IMAGE = "sampleapp-build:cache"


@dataclass(frozen=True)
class Base:
    """A public image the project uses, and its local Debian-built equivalent."""

    variable: str  # how Compose/stack files and the Dockerfile receive it
    public: str
    local: str
    dockerfile: str


BASES = (
    Base(
        "SAMPLEAPP_PYTHON_IMAGE",
        "python:3.11-slim-bookworm",
        "sampleapp-local/python:3.11",
        "python.Dockerfile",
    ),
    Base(
        "SAMPLEAPP_POSTGRES_IMAGE",
        "postgres:15.10-bookworm",
        "sampleapp-local/postgres:15",
        "postgres.Dockerfile",
    ),
    Base(
        "SAMPLEAPP_ETCD_IMAGE",
        "quay.io/coreos/etcd:v3.5.17",
        "sampleapp-local/etcd:3.4",
        "etcd.Dockerfile",
    ),
)

# What the local cluster runs on the host engine besides the app: its machines (Docker-in-Docker
# nodes) and the registry they pull from. Resolved only by `sampleapp cluster create`.
CLUSTER_BASES = (
    Base(
        "SAMPLEAPP_DIND_IMAGE",
        "docker:27.3-dind",
        "sampleapp-local/dind:20.10",
        "dind.Dockerfile",
    ),
    Base(
        "SAMPLEAPP_REGISTRY_IMAGE",
        "registry:2.8",
        "sampleapp-local/registry:2.8",
        "registry.Dockerfile",
    ),
)


def build_debian_rootfs(progress: Progress, tag: str = DEBIAN_LOCAL) -> None:
    """debootstrap a minbase bookworm and import it as ``tag`` (once per machine)."""
    if image_exists(tag):
        return
    if shutil.which("debootstrap") is None:
        raise PreflightError(
            "No registry answers and debootstrap is missing, so no base image "
            "can be made: `apt-get install debootstrap`"
        )
    if os.geteuid() != 0:
        raise PreflightError(
            "Building the local Debian base needs root (debootstrap): "
            "run `sudo sampleapp image build` once"
        )
    progress.step(f"Building {tag} with debootstrap from {DEBIAN_MIRROR} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="sampleapp-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        result = run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                "bookworm",
                str(root),
                DEBIAN_MIRROR,
            ],
            check=False,
            timeout=1800,
        )
        progress.log(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StackError(
                f"debootstrap failed (exit {result.returncode}); its log is in "
                f"{progress.log_path}: check that {DEBIAN_MIRROR} is reachable"
            )
        # What debian:bookworm-slim leaves out: package caches, docs, man pages, locales.
        for junk in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
            "usr/share/info",
        ):
            for child in (root / junk).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()
        (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(
            "path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\n"
            "path-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n"
        )
        (root / "etc/apt/apt.conf.d/docker-slim").write_text(
            'APT::Install-Recommends "false";\nAcquire::Languages "none";\n'
        )
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                [
                    "docker",
                    "import",
                    "--change",
                    'CMD ["bash"]',
                    "--change",
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "-",
                    tag,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
            )
        if tar.returncode != 0 or imported.returncode != 0:
            raise StackError(
                f"docker import of the rootfs failed (tar exit {tar.returncode}): "
                f"{imported.stderr.strip() or 'no output'}"
            )


def resolve_bases(progress: Progress, bases: tuple[Base, ...] = BASES) -> dict[str, str]:
    """Map each base's variable to an image present on this engine, building locals if needed."""
    chosen: dict[str, str] = {}
    offline: bool | None = None
    for base in bases:
        if image_exists(base.public):
            chosen[base.variable] = base.public
            continue
        if image_exists(base.local):
            chosen[base.variable] = base.local
            continue
        if offline is None:
            progress.step(f"Pulling {base.public}")
            offline = not registry_reachable(base.public)
            if not offline:
                chosen[base.variable] = base.public
                continue
            progress.info(
                "no registry answers: building local equivalents from Debian packages "
                "(see deploy/images/local/README.md)"
            )
        elif not offline:
            progress.step(f"Pulling {base.public}")
            if registry_reachable(base.public):
                chosen[base.variable] = base.public
                continue
            raise StackError(f"docker pull {base.public} failed: check your registry access")
        build_debian_rootfs(progress)
        progress.step(f"Building {base.local} (local equivalent of {base.public})")
        docker(
            "build",
            "-q",
            "-t",
            base.local,
            "--build-arg",
            f"DEBIAN_BASE={DEBIAN_LOCAL}",
            "-f",
            str(LOCAL_DIR / base.dockerfile),
            str(LOCAL_DIR),
            timeout=1800,
            fix="check that the Debian mirror is reachable from containers",
        )
        chosen[base.variable] = base.local
    return chosen


def build_wheelhouse(progress: Progress) -> None:
    """Wheels of the project and its pinned dependencies, built with the host's pip."""
    progress.step("Building the wheelhouse (project + pinned dependencies)")
    WHEELHOUSE.mkdir(exist_ok=True)
    for old in WHEELHOUSE.glob("sampleapp-*.whl"):
        old.unlink()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--wheel-dir",
            str(WHEELHOUSE),
            "-c",
            str(REPO / "requirements.lock"),
            str(REPO),
        ],
        what="pip wheel",
        fix="check that PyPI is reachable from this machine",
        timeout=1800,
    )


def git_revision() -> str:
    result = run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build_app_image(progress: Progress, tags: tuple[str, ...] = (APP_IMAGE,)) -> dict[str, str]:
    """Build the project image (every role); returns the base images used, by variable.

    The build stage is tagged too (``BUILD_STAGE_IMAGE``), so that the build images each new
    revision supersedes can be pruned without losing the cache of the current one.
    """
    bases = resolve_bases(progress)
    build_wheelhouse(progress)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    progress.step(f"Building {', '.join(tags)} on {bases['SAMPLEAPP_PYTHON_IMAGE']}")
    args = [
        "build",
        "-q",
        "--build-arg",
        f"PYTHON_BASE={bases['SAMPLEAPP_PYTHON_IMAGE']}",
        "--build-arg",
        f"VERSION={__version__}",
        "--build-arg",
        f"REVISION={git_revision()}",
        "--build-arg",
        f"CREATED={created}",
    ]
    fix = "read the build output above; `sampleapp image build --debug` shows more"
    docker(*args, "--target", "build", "-t", BUILD_STAGE_IMAGE, str(REPO), timeout=1800, fix=fix)
    for tag in tags:
        args += ["-t", tag]
    docker(*args, str(REPO), timeout=1800, fix=fix)
    pruned = prune_superseded_images()
    if pruned:
        progress.info(f"removed {pruned} superseded sampleapp image(s)")
    return bases


def prune_superseded_images() -> int:
    """Remove the project's untagged images (earlier builds) that no container uses.

    Returns how many went. Only images labelled as this project's are touched.
    """
    filters = [
        f"--filter=label=org.opencontainers.image.title={title}"
        for title in (APP_REPOSITORY, BUILD_STAGE_IMAGE.partition(":")[0])
    ]

    def dangling() -> set[str]:
        found: set[str] = set()
        for label in filters:
            found |= set(docker("images", "-q", "--filter=dangling=true", label).split())
        return found

    before = dangling()
    for label in filters:
        docker("image", "prune", "--force", label)
    return len(before - dangling())


def image_size_mb(ref: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", ref).strip()) / 1e6
