# Local equivalent of docker:27.3-dind: Debian's docker.io engine (20.10) as a cluster node.
# Runs with --cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined, a tmpfs on
# /run, the host's /sys/fs/cgroup and a volume on /var/lib/docker (see sampleapp/ops/nodes.py).
ARG DEBIAN_BASE=sampleapp-local/debian:bookworm
FROM ${DEBIAN_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends docker.io iptables iproute2 ca-certificates procps \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY dind-entrypoint.sh /usr/local/bin/dockerd-entrypoint.sh
VOLUME /var/lib/docker
EXPOSE 2375
STOPSIGNAL SIGTERM
ENTRYPOINT ["dockerd-entrypoint.sh"]
CMD []
