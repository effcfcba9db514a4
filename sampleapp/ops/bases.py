"""The public base images the project runs on, and their local equivalents where none can be pulled.

On a machine that reaches Docker Hub the public bases are used as they are. Here, where no
registry answers, each is built from Debian packages instead: a ``debootstrap`` minbase rootfs
imported with ``docker import``, then the small Dockerfiles in ``deploy/images/local/`` (Python,
PostgreSQL, etcd; the cluster's Docker-in-Docker, registry and nginx). That is slow, so it happens
only in ``sampleapp image build`` (and ``cluster create`` for the cluster's own): ``up``,
``scale`` and ``cluster deploy`` take what is present (``present``) and name the command to run
when something is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sampleapp.errors import PreflightError
from sampleapp.ops.engine import docker, failure, image_exists, printed, registry_reachable, run
from sampleapp.progress import Progress

LOCAL_DIR = Path(__file__).resolve().parents[2] / "deploy" / "images" / "local"
DEBIAN_LOCAL = "sampleapp-local/debian:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Base:
    """A public image the project uses, and its local Debian-built equivalent."""

    variable: str  # how Compose/stack files and the Dockerfile receive it
    public: str
    local: str  # sampleapp-local/<name>:<version>, built from deploy/images/local/<name>.Dockerfile

    @property
    def dockerfile(self) -> str:
        return self.local.partition("/")[2].partition(":")[0] + ".Dockerfile"

    def found(self) -> str | None:
        """The public image, or else the local equivalent, when this engine has it."""
        return next((ref for ref in (self.public, self.local) if image_exists(ref)), None)


BASES = (
    Base("SAMPLEAPP_PYTHON_IMAGE", "python:3.11-slim-bookworm", "sampleapp-local/python:3.11"),
    Base("SAMPLEAPP_POSTGRES_IMAGE", "postgres:15.10-bookworm", "sampleapp-local/postgres:15"),
    Base("SAMPLEAPP_ETCD_IMAGE", "quay.io/coreos/etcd:v3.5.17", "sampleapp-local/etcd:3.4"),
)

# What the local cluster runs on the host engine besides the app: its machines (Docker-in-Docker
# nodes) and the registry they pull from; and the edge's nginx (deploy/nginx/edge.conf), which
# only the cluster runs. Resolved only by `sampleapp cluster create`.
CLUSTER_BASES = (
    Base("SAMPLEAPP_DIND_IMAGE", "docker:27.3-dind", "sampleapp-local/dind:20.10"),
    Base("SAMPLEAPP_REGISTRY_IMAGE", "registry:2.8", "sampleapp-local/registry:2.8"),
)
EDGE_BASE = Base("SAMPLEAPP_NGINX_IMAGE", "nginx:1.27-bookworm", "sampleapp-local/nginx:1.22")
# What debian:bookworm-slim leaves out: package caches and these.
SLIM_SHARE = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")


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
        args = ["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm"]
        result = run([*args, str(root), DEBIAN_MIRROR], check=False, timeout=1800)
        progress.log(result.stdout + result.stderr)  # check=False: logged whole, then raised
        if result.returncode != 0:
            said = printed(result.stdout, result.stderr)
            fix = f"check that {DEBIAN_MIRROR} is reachable; the whole log: {progress.log_path}"
            raise failure("debootstrap", result.returncode, said, fix)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", *SLIM_SHARE):
            for child in (root / junk).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()
        excluded = "".join(f"path-exclude /{path}/*\n" for path in SLIM_SHARE)
        (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(excluded)
        (root / "etc/apt/apt.conf.d/docker-slim").write_text(
            'APT::Install-Recommends "false";\nAcquire::Languages "none";\n'
        )
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            path = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            args = ["docker", "import", "--change", 'CMD ["bash"]', "--change", path, "-", tag]
            imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True)
        if tar.returncode != 0 or imported.returncode != 0:
            said = f"(tar exited {tar.returncode}) {printed(imported.stdout, imported.stderr)}"
            code = imported.returncode or tar.returncode
            raise failure("docker import", code, said, "see the Docker engine's message above")


def resolve(progress: Progress, bases: tuple[Base, ...] = BASES) -> dict[str, str]:
    """Map each base's variable to an image present on this engine, pulling it, or building its
    local equivalent when no registry answers. Only `image build` and `cluster create` call it."""
    chosen: dict[str, str] = {}
    offline: bool | None = None
    for base in bases:
        ref = base.found()
        if ref is None and offline is not True:
            progress.step(f"Pulling {base.public}")
            if offline is None:  # the first pull tells whether a registry answers
                offline = not registry_reachable(base.public)
                if offline:
                    progress.info(
                        "no registry answers: building local equivalents from Debian packages "
                        "(see deploy/images/local/README.md)"
                    )
            else:  # a registry answered for the first base: it must give this one
                docker("pull", "-q", base.public, timeout=600, fix="check your registry access")
            ref = None if offline else base.public
        if ref is None:
            build_debian_rootfs(progress)
            progress.step(f"Building {base.local} (local equivalent of {base.public})")
            build = ["build", "-q", "-t", base.local, "--build-arg", f"DEBIAN_BASE={DEBIAN_LOCAL}"]
            dockerfile = str(LOCAL_DIR / base.dockerfile)
            fix = "check that the Debian mirror is reachable from containers"
            docker(*build, "-f", dockerfile, str(LOCAL_DIR), timeout=1800, fix=fix)
            ref = base.local
        chosen[base.variable] = ref
    return chosen


def present(
    bases: tuple[Base, ...] = BASES, fix: str = "`sampleapp image build`"
) -> dict[str, str]:
    """Map each base's variable to the public image, or else its local equivalent, on this
    engine; raise naming ``fix`` when neither is there. Never pulls or builds."""
    chosen: dict[str, str] = {}
    for base in bases:
        found = base.found()
        if found is None:
            raise PreflightError(
                f"Neither {base.public} nor its local equivalent {base.local} is on this engine: "
                f"{fix} makes it"
            )
        chosen[base.variable] = found
    return chosen
