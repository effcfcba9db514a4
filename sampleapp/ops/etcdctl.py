"""Read etcd from the host through ``etcdctl`` in a running etcd container (``docker exec``).

No etcd client port is published on the host, so the stack and the cluster read the registered
app servers as a person would: inside an etcd container. A read that fails (the engine, the
container or etcd itself) raises with the command, its exit status and etcdctl's last lines,
so an empty result always means that etcd answered and nothing is there.
"""

from __future__ import annotations

from sampleapp.errors import StackError
from sampleapp.ops.engine import docker


def get_prefix(
    container: str, prefix: str, *, socket: str | None = None, where: str = ""
) -> dict[str, str]:
    """key -> value of every key under ``prefix`` (``etcdctl get --prefix``).

    ``socket`` is the engine the container runs on (a cluster node's), ``where`` names it for
    the message (" on core-01").
    """
    out = docker(
        *(["--host", f"unix://{socket}"] if socket else []),
        "exec",
        "-e",
        "ETCDCTL_API=3",
        container,
        "etcdctl",
        "get",
        "--prefix",
        prefix,
        timeout=30,
        what=f"etcdctl get --prefix {prefix} in {container}{where}",
        fix="etcd did not answer: its container's log (`docker logs`) says why",
    )
    lines = out.splitlines()
    if len(lines) % 2:
        raise StackError(
            f"etcdctl get --prefix {prefix} in {container}{where} printed {len(lines)} lines, "
            f"expected key and value pairs; the last: {lines[-1]!r}. A value must be one line: "
            "see what wrote it (`sampleapp status` lists the keys)"
        )
    return dict(zip(lines[::2], lines[1::2], strict=True))
