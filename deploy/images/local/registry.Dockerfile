# Local equivalent of registry:2.8: Debian's docker-registry (distribution 2.8), no auth, port 5000.
ARG DEBIAN_BASE=sampleapp-local/debian:bookworm
FROM ${DEBIAN_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends docker-registry \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY registry-config.yml /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT ["docker-registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
