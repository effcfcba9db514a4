#!/bin/bash
# The official docker:dind entrypoint, reduced to what a cluster node needs: make the mounts the
# inner engine expects, then run dockerd as PID 1 with the arguments given (flags only, like
# `--insecure-registry registry:5000`). dockerd's own SIGTERM handling stops its containers.
set -euo pipefail
if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
  mount -t securityfs none /sys/kernel/security || echo "could not mount securityfs" >&2
fi
# Inner containers' mounts must propagate (volumes, secrets under /run).
mount --make-rshared / || true
# A stale pid file from a `docker stop` would stop dockerd from starting on `docker start`.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- dockerd --host=unix:///var/run/docker.sock "$@"
fi
exec "$@"
