# lamdis: the hosted service (`lamdis serve`) on Debian's Python.
#
# Built by `make image` from a wheelhouse made on the host (build/wheelhouse: the lamdis
# wheels and every dependency's wheel), so the build itself downloads no Python package and
# needs no TLS: only Debian's packages, over apt. Nothing secret is baked in: the token, the
# HMAC secret and the database URL come from the environment at run time.
#
#   podman build --isolation=chroot -t lamdis .                     # every adapter, traces
#   podman build --build-arg EXTRAS=postgres -t lamdis:postgres .   # only what is used
ARG BASE=debian:bookworm-slim
# Which adapters to install (extras of lamdis-http): postgres, mongo, openai, bedrock, and
# otel (the OpenTelemetry SDK and OTLP/HTTP exporter: traces when OTEL_* variables ask).
# An empty value gives the local store, the offline and external judges and http_chat only.
ARG EXTRAS=postgres,mongo,openai,bedrock,otel

# --- build: a virtual environment from the wheelhouse, against Debian's python3 -------------
FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ARG EXTRAS
COPY build/wheelhouse /wheelhouse
RUN python3 -m venv /opt/lamdis \
 && /opt/lamdis/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse \
      "lamdis-http[${EXTRAS}]" \
 # otel: the OTLP/HTTP exporter declares googleapis-common-protos but never imports it, and of
 # the semantic conventions' incubating modules the SDK and the exporter import only otel_*
 # (about 3 MB that trace export never loads; a test imports every SDK and exporter module).
 && if [ -d /opt/lamdis/lib/python3.11/site-packages/opentelemetry/semconv/_incubating ]; then \
      /opt/lamdis/bin/pip uninstall --quiet -y googleapis-common-protos \
      && find /opt/lamdis/lib/python3.11/site-packages/opentelemetry/semconv/_incubating \
           -name '*.py' ! -name 'otel_*' -delete ; \
    fi \
 && /opt/lamdis/bin/pip uninstall --quiet -y pip setuptools \
 # botocore carries the API models of every AWS service (about 80 MB); the Bedrock adapter
 # needs bedrock-runtime, and the credential chain sts, sso and sso-oidc.
 && if [ -d /opt/lamdis/lib/python3.11/site-packages/botocore/data ]; then \
      cd /opt/lamdis/lib/python3.11/site-packages/botocore/data \
      && find . -mindepth 1 -maxdepth 1 -type d \
           ! -name bedrock-runtime ! -name sts ! -name sso ! -name sso-oidc \
           -exec rm -rf {} + ; \
    fi \
 && find /opt/lamdis -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/lamdis/bin/python -m compileall -q -j 0 /opt/lamdis/lib >/dev/null

# --- runtime ---------------------------------------------------------------------------------
FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG EXTRAS
LABEL org.opencontainers.image.title="lamdis" \
      org.opencontainers.image.description="lamdis hosted service: runs conversational-assistant test suites for CI, with run history in PostgreSQL or MongoDB." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/lamdis-ai/lamdis-python" \
      org.opencontainers.image.documentation="https://github.com/lamdis-ai/lamdis-python/blob/main/docs/deploy.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="debian:bookworm-slim" \
      org.lamdis.extras="${EXTRAS}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --gid 10001 lamdis \
 && useradd --uid 10001 --gid lamdis --home-dir /srv/lamdis --create-home --no-log-init \
      --shell /usr/sbin/nologin lamdis
COPY --from=build /opt/lamdis /opt/lamdis
ENV PATH=/opt/lamdis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3101 \
    LAMDIS_CONFIG_DIR=/srv/lamdis/configs \
    LAMDIS_DRAIN_SECONDS=20
WORKDIR /srv/lamdis
USER 10001:10001
EXPOSE 3101
# SIGTERM: stop accepting, let runs in flight finish for up to LAMDIS_DRAIN_SECONDS, then exit.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python3", "-c", "import os, sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3101'), timeout=2); sys.exit(0)"]
ENTRYPOINT ["lamdis", "serve"]
