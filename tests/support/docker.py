"""Helpers for tests and benchmarks that start stacks on the machine's Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sampleapp.ops import build_context, engine, images
from sampleapp.ops.settings import REPO
from tests.discovery.servers import Load
from tests.support import site

# Third octets under 10.213.0.0/16: Compose stacks take 100 and up, clusters 62-99, so a test
# stack and a test cluster never ask for the same /24.
STACK_SUBNETS = range(100, 250)
CLUSTER_SUBNETS = range(62, 100)


def free_subnet(thirds: range = STACK_SUBNETS) -> tuple[str, str]:
    """A /24 under 10.213.0.0/16 that no network on the engine uses, and its DNS address."""
    ids = engine.docker("network", "ls", "-q").split()
    used = {
        config.get("Subnet", "")
        for network in json.loads(engine.docker("network", "inspect", *ids))
        for config in (network.get("IPAM", {}).get("Config") or [])
    }
    for third in thirds:
        subnet = f"10.213.{third}.0/24"
        if subnet not in used:
            return subnet, f"10.213.{third}.53"
    raise RuntimeError(
        f"no free 10.213.{thirds.start}-{thirds.stop - 1}.0/24 subnet on this engine: "
        "remove old test networks"
    )


def free_cluster_subnet() -> str:
    return free_subnet(CLUSTER_SUBNETS)[0]


def named(prefix: str) -> list[str]:
    """The containers, volumes and networks on the engine whose names start with ``prefix``:
    what a deployment of that name made. Another session's resources (the tests run in streams
    side by side on one engine) are left out."""
    listings = (
        ("container", "ls", "-a", "--format", "{{.Names}}"),
        ("volume", "ls", "--format", "{{.Name}}"),
        ("network", "ls", "--format", "{{.Name}}"),
    )
    return sorted(
        f"{args[0]} {name}"
        for args in listings
        for name in engine.docker(*args).split()
        if name.startswith(prefix)
    )


def copy_build_context(target: Path, root: Path = REPO) -> Path:
    """A throwaway copy of the image's build context (what ``docker build`` sends), to change."""
    for path in build_context.context_files(root):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, target / path)
    return target


def new_app_version(tag: str, *, new_infra: bool = False, footer: str = "") -> str:
    """A new version of the app image on the host engine, tagged ``tag``: the current build with
    one more label (another image ID and digest, the same infra inputs); with ``new_infra``,
    another infra label too, so that proxy, dns and register-db get a new image as well; with
    ``footer``, every page ends its footer with that text (a change a visitor sees)."""
    lines = [f"FROM {images.APP_IMAGE}", f"LABEL org.sampleapp.version-of-test={tag}"]
    if new_infra:
        lines.append(f"LABEL {images.INFRA_LABEL}={os.urandom(16).hex()}")
    if footer:
        template = "/opt/venv/lib/python3*/site-packages/sampleapp/web/templates/_footer.html"
        append = f"for f in {template}; do echo '{footer}' >> \"$f\"; done"
        lines += ["USER root", f"RUN {append}", "USER sampleapp"]
    with images.build_lock():  # no prune of another stream's build removes a step of this one
        engine.docker("build", "--quiet", "--tag", tag, "-", input="\n".join(lines) + "\n")
    return tag


# The test streams (`make test`) run side by side on one engine, and the host engine's
# ``APP_IMAGE`` tag is the current build for all of them.
APP_IMAGE_LOCK = Path(tempfile.gettempdir()) / "sampleapp-test-app-image.lock"


@contextmanager
def app_image_tag(*, moving: bool) -> Iterator[None]:
    """Hold ``APP_IMAGE`` as it is: shared by what reads it (a cluster's push, an image built
    FROM it), exclusive (``moving``) for a test that points it at another image for a while,
    so no other stream pushes or builds on that image meanwhile."""
    with images.file_lock(APP_IMAGE_LOCK, exclusive=moving):
        yield


# The steady load a roll is tested under. Every request is a new TLS connection through the
# published port, the edge and the proxy to an app server, about 7 ms of CPU in all: back to
# back, four clients made about 200 requests a second and took both cores of a 2-core machine
# from the roll they were there to watch (and from the other test streams). At this rate each
# app server still gets a request every ~75 ms through every moment of a roll, for about a
# quarter of a core. Back-to-back load, with its failures counted over thousands of requests,
# is the benchmarks' (`make bench-stack`, `make bench-cluster`).
ROLL_LOAD_RATE = 40.0


@contextmanager
def steady_load(url: str) -> Iterator[Load]:
    """Four clients requesting ``url`` past the page cache, ``ROLL_LOAD_RATE`` requests a second
    between them, each on a new connection. Two test streams' loads may run at once (about half
    a core together), so no stream waits for another's roll."""
    with Load(url, threads=4, rate=ROLL_LOAD_RATE, headers=site.PAST_THE_PAGE_CACHE) as load:
        yield load
