"""The images of the local cluster: what ``cluster create`` and ``cluster deploy`` push, and how
the stack names them.

The nodes pull from the cluster's own registry, so every image the stack runs is pushed there
first and named pinned to the digest that landed: a deploy runs exactly what was pushed, and runs
it again unchanged when nothing changed. The app's tags move, so it is always pushed; the others
(the infra tag, the pinned bases) name their content, so one the registry has is kept: see
:func:`push_images`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import bases, engine, images, nodes, release, swarm
from sampleapp.ops.nodes import Cluster
from sampleapp.progress import Progress

# Pushed as <registry>/<name without its registry host>; the stack reads them from these variables.
STACK_IMAGES = ("SAMPLEAPP_POSTGRES_IMAGE", "SAMPLEAPP_ETCD_IMAGE", bases.EDGE_BASE.variable)


def registry_path(ref: str) -> str:
    """A host image's path in the cluster's registry, without the registry it came from:
    ``quay.io/coreos/etcd:v3.5.17`` -> ``coreos/etcd:v3.5.17``."""
    first, _, rest = ref.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else ref


def tagged(ref: str) -> str:
    """``ref`` without a digest, with its tag (``latest`` when none is given)."""
    name = ref.partition("@")[0]
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


@dataclass(frozen=True)
class Pushed:
    """Each stack image variable -> its image as the nodes pull it, pinned to the digest pushed
    (``registry:5000/sampleapp:0.1@sha256:...``)."""

    images: dict[str, str]
    changed: list[str]  # the registry tags whose image is new or moved, one line each


def app_pushes(app: str | None) -> list[tuple[str, str]]:
    """(host image, path in the cluster's registry) for the app: the current build
    (``APP_IMAGE``) under its version and commit tags, or ``app`` under its own name and tag
    (``127.0.0.1:5000/sampleapp:abc12345`` -> ``sampleapp:abc12345``); the first is deployed."""
    if app is not None:
        return [(app, registry_path(tagged(app)))]
    revision = images.git_revision()
    tags = [images.APP_IMAGE.rpartition(":")[2]] + ([revision[:8]] if len(revision) == 40 else [])
    return [(images.APP_IMAGE, f"{images.APP_REPOSITORY}:{tag}") for tag in tags]


def stack_sources(app: str | None, progress: Progress) -> dict[str, str]:
    """The host engine's image for every stack variable but the app's: the infra roles (proxy,
    dns, register-db) run the app image's infra tag (see ``images.ensure_infra_image``), etcd,
    PostgreSQL and the edge their pinned bases."""
    if app is None and not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    if app is not None and not engine.image_exists(app):
        raise PreflightError(
            f"{app} is not an image on this engine: build it (`sampleapp image build`) or "
            f"`docker pull {app}`, then deploy again"
        )
    found = bases.present(
        (*bases.BASES, bases.EDGE_BASE),
        fix="`sampleapp cluster create` (it builds what is missing)",
    )
    return {
        "SAMPLEAPP_INFRA_IMAGE": images.ensure_infra_image(app or images.APP_IMAGE, progress),
        **{k: found[k] for k in STACK_IMAGES},
    }


def push_images(
    cluster: Cluster, app: str | None, progress: Progress, via: int | None = None
) -> Pushed:
    """Push the app (see ``app_pushes``), its infra image and the stack's other images to the
    cluster's registry, check that each digest landed, and return them pinned to it.

    The app's tags move with each build, so they are always pushed. The others name their
    content (the infra tag is a hash of its inputs, a base tag a pinned version), so a tag the
    registry has is kept as it is: a local image rebuilt or re-tagged from the same inputs has
    another digest, and deploying that would restart the proxy, the DNS or etcd for nothing.
    An app image without an infra label (made elsewhere) says nothing about them: with a stack
    deployed (``via`` a manager), they keep the image they run.
    """
    host = nodes.registry_address(cluster)
    release.registry_preflight(host)
    others = stack_sources(app, progress)
    pinned: dict[str, str] = {}
    running = swarm.service_image(cluster, via, "proxy") if via is not None else None
    if others["SAMPLEAPP_INFRA_IMAGE"] == (app or images.APP_IMAGE) and running:
        progress.info(
            f"{app or images.APP_IMAGE} has no {images.INFRA_LABEL} label: proxy, dns and "
            f"register-db keep {running}"
        )
        pinned["SAMPLEAPP_INFRA_IMAGE"] = running
        del others["SAMPLEAPP_INFRA_IMAGE"]
    pushes = [
        ("SAMPLEAPP_IMAGE" if i == 0 else "", *p, True) for i, p in enumerate(app_pushes(app))
    ]
    pushes += [(k, ref, registry_path(ref), False) for k, ref in others.items()]
    progress.step(f"Pushing {len(pushes)} images to the cluster's registry ({host})")
    changed = []
    for variable, source, path, moves in pushes:
        target = f"{host}/{path}"
        name, _, tag = path.rpartition(":")
        before = release.remote_digest(host, name, tag, missing="")
        if before and not moves:
            digest, state = before, "already there"
        else:
            engine.docker("tag", source, target)
            digest = release.push(target)
            landed = release.remote_digest(host, name, tag)
            if landed != digest:
                raise StackError(
                    f"{target}: pushed {digest} but the registry has {landed}: push again"
                )
            state = "unchanged" if before == digest else "new" if not before else "updated"
        progress.info(f"{name}:{tag} {digest[:19]} ({state})")
        if state in ("new", "updated"):
            changed.append(f"{name}:{tag} {state}")
        if variable:
            pinned[variable] = f"{nodes.REGISTRY_ALIAS}/{path}@{digest}"
    return Pushed(pinned, changed)
