# One image for every role of sampleapp, chosen by the command:
#   web (gunicorn :9292 + registrar) · migrate (one-shot) · proxy (renderer + nginx :80) · dns (:53)
# Public base by default; where no registry answers, `sampleapp image build` passes a local
# equivalent built from Debian packages (deploy/images/local/) as PYTHON_BASE.
ARG PYTHON_BASE=python:3.11-slim-bookworm

FROM ${PYTHON_BASE} AS build
LABEL org.opencontainers.image.title="sampleapp-build"
WORKDIR /src
COPY wheelhouse/ /wheels/
COPY pyproject.toml requirements.lock README.md ./
COPY sampleapp/ sampleapp/
# Wheels built on the host when present (offline builds), PyPI otherwise; both pinned by the lock.
# Then drop what this app never loads, to stay under 200 MB: translation catalogs (USE_I18N is
# off), GIS, admin assets, the installers, and Faker locales other than English (populate uses
# en_US); and compile bytecode once here, since the image runs with PYTHONDONTWRITEBYTECODE.
RUN python3 -m venv /opt/venv \
 && if ls /wheels/sampleapp-*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -c requirements.lock sampleapp; \
    else \
      /opt/venv/bin/pip install --no-cache-dir -c requirements.lock . ; \
    fi \
 && cd /opt/venv/lib/python3*/site-packages \
 && rm -rf pip setuptools pkg_resources django/contrib/gis django/contrib/admindocs django/contrib/admin/static \
 && find . -path '*/locale/*/LC_MESSAGES' -prune -exec rm -rf {} + \
 && find faker/providers -mindepth 2 -maxdepth 2 -type d -name '[a-z][a-z]*_*' ! -name 'en_*' -exec rm -rf {} + \
 && python3 -m compileall -q -j 0 /opt/venv
# Static files are baked into the image: the proxy role serves them from its own image, the infra
# tag (sampleapp/ops/images.py), whose inputs include sampleapp/web/static/. Collected as production
# collects them (hashed names, .gz copies, the manifest pages link through); the production
# settings need these variables to import, and nothing here reads them.
RUN mkdir -p /public && SAMPLEAPP_ENV=production SECRET_KEY=build-only \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 SITE_URL=http://localhost EMAIL_URL=console:// \
    STATIC_ROOT=/public /opt/venv/bin/sampleapp manage collectstatic --noinput -v0

FROM ${PYTHON_BASE}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home sampleapp \
 && mkdir -p /app/var \
 && chown -R sampleapp:sampleapp /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /public /app/public
COPY deploy/nginx/ /app/deploy/nginx/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SAMPLEAPP_ENV=production \
    SAMPLEAPP_DATA_DIR=/app/var \
    STATIC_ROOT=/app/public \
    NGINX_STATIC_ROOT=/app/public \
    NGINX_RUNTIME_DIR=/app/var/nginx \
    NGINX_CONF_DIR=/app/deploy/nginx
WORKDIR /app
USER sampleapp
EXPOSE 9292 80 53/udp 53/tcp
# For the default command (web); every other role's service names its own (deploy/*.yaml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "sampleapp.healthcheck", "web"]
ENTRYPOINT ["sampleapp"]
CMD ["web"]
# Last, so that a new revision or build time changes only this layer (every RUN after an ARG
# misses the cache when the ARG changes). `sampleapp image build` adds the labels
# org.sampleapp.inputs and org.sampleapp.infra (hashes of the build inputs) and skips the build
# when the image already has its inputs' hash, so an unchanged tree keeps its image ID.
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/sampleapp/sampleapp
LABEL org.opencontainers.image.title="sampleapp" \
      org.opencontainers.image.description="The Rails Tutorial microblog in Django: web, migrate, proxy and dns roles" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
