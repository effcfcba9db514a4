# Local equivalent of nginx:1.27-bookworm: Debian's nginx (1.22) with its stream module, on a
# minbase rootfs. Debian loads the module from /etc/nginx/modules-enabled/, which the cluster's
# edge.conf includes (the official image has it built in and no such directory).
ARG DEBIAN_BASE=sampleapp-local/debian:bookworm
FROM ${DEBIAN_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends nginx libnginx-mod-stream \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
