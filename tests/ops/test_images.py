"""The offline path of the image build: a Debian base made with debootstrap and ``docker import``.

On a machine whose engine already holds the local bases this path never runs, so it is built here
under a throwaway tag: a fresh CI machine takes it, and it must work (and leak nothing) there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from sampleapp.ops import engine, images
from sampleapp.progress import Progress

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def throwaway_tag(docker_engine: tuple[int, int]) -> Iterator[str]:
    tag = f"sampleapp-test/debian:{os.getpid()}"
    yield tag
    engine.docker("rmi", tag, check=False)


def test_the_local_debian_base_is_a_slim_bookworm_made_by_debootstrap(
    throwaway_tag: str, tmp_path
) -> None:
    images.build_debian_rootfs(Progress(tmp_path / "log"), tag=throwaway_tag)
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
