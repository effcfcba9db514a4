# Local equivalent of quay.io/coreos/etcd: Debian's etcd-server (v3 API) on a minbase rootfs.
ARG DEBIAN_BASE=sampleapp-local/debian:bookworm
FROM ${DEBIAN_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ENV ETCDCTL_API=3
EXPOSE 2379 2380
CMD ["etcd"]
