# Local equivalent of postgres:15.10-bookworm: Debian's PostgreSQL 15 with an entrypoint that
# honours the official image's POSTGRES_USER, POSTGRES_PASSWORD(_FILE), POSTGRES_DB and PGDATA.
ARG DEBIAN_BASE=sampleapp-local/debian:bookworm
FROM ${DEBIAN_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
