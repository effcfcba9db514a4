"""Helpers for tests and benchmarks that start stacks on the machine's Docker engine."""

from __future__ import annotations

import json

from sampleapp.ops import engine


def free_subnet() -> tuple[str, str]:
    """A /24 under 10.213.0.0/16 that no network on the engine uses, and its DNS address."""
    ids = engine.docker("network", "ls", "-q").split()
    used = {
        config.get("Subnet", "")
        for network in json.loads(engine.docker("network", "inspect", *ids))
        for config in (network.get("IPAM", {}).get("Config") or [])
    }
    for third in range(100, 250):
        subnet = f"10.213.{third}.0/24"
        if subnet not in used:
            return subnet, f"10.213.{third}.53"
    raise RuntimeError("no free 10.213.x.0/24 subnet on this engine: remove old test networks")
