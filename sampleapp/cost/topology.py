"""The machines a deployment runs on, as data (deploy/aws/topology.yaml), and overrides of them.

``sampleapp cost plan`` prices the default topology, ``cost compare`` sets the thesis's beside
it, and the coming ``sampleapp aws plan`` is to create the same default from this one file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sampleapp.cost import data
from sampleapp.errors import CostError

TOPOLOGY_FILE = data.DEPLOY / "aws" / "topology.yaml"
MAX_MACHINES = 1000


@dataclass(frozen=True)
class Topology:
    name: str
    description: str
    region: str
    instance_type: str
    machines: tuple[str, ...]
    ebs_gb_per_machine: int
    public_ipv4_per_machine: int

    @property
    def count(self) -> int:
        return len(self.machines)

    def with_count(self, count: int) -> Topology:
        """The same topology on ``count`` machines (core-01, core-02, ...)."""
        if not 1 <= count <= MAX_MACHINES:
            raise CostError(f"--count {count}: give 1 to {MAX_MACHINES} machines")
        return replace(self, machines=tuple(f"core-{n:02d}" for n in range(1, count + 1)))

    def overridden(
        self, *, instance_type: str | None, region: str | None, count: int | None
    ) -> Topology:
        changed = replace(
            self,
            instance_type=instance_type or self.instance_type,
            region=region or self.region,
        )
        if instance_type or region or count:
            changed = replace(changed, name=f"{self.name}, as given")
        return changed if count is None else changed.with_count(count)


def names(path: Path = TOPOLOGY_FILE) -> list[str]:
    return [name for name, _ in data.Fields(data.load(path), path).sub("topologies").items()]


def load(name: str | None = None, path: Path = TOPOLOGY_FILE) -> Topology:
    """The topology ``name`` (the file's ``default`` when None)."""
    root = data.Fields(data.load(path), path)
    wanted = name or root.text("default")
    found = dict(root.sub("topologies").items())
    if wanted not in found:
        raise CostError(
            f"unknown topology {wanted!r}: {path.name} defines {', '.join(sorted(found))}"
        )
    fields = found[wanted]
    machines = tuple(str(m) for m in fields.raw("machines") or [])
    if not machines:
        raise CostError(f"{path}: topologies.{wanted}.machines should list at least one machine")
    return Topology(
        name=wanted,
        description=fields.text("description"),
        region=fields.text("region"),
        instance_type=fields.text("instance_type"),
        machines=machines,
        ebs_gb_per_machine=fields.integer("ebs_gb_per_machine"),
        public_ipv4_per_machine=fields.integer("public_ipv4_per_machine"),
    )
