# syntax=docker/dockerfile:1
#
# dataflow-exporter: a wheel is built and installed into a virtualenv in the builder stage; the
# runtime stage receives only that virtualenv and runs as an unprivileged numeric user.
#
#   docker build -t dataflow-exporter:0.1.0 .
#   docker run --rm -p 9891:9891 \
#     -v "$PWD/config.yaml:/etc/dataflow-exporter/config.yaml:ro" dataflow-exporter:0.1.0
#
# Both stages use the same pinned base so that the virtualenv's interpreter path
# (/usr/local/bin/python3.11) exists in the runtime image.

FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Every dependency publishes binary wheels for linux/amd64 and linux/arm64, so no compiler is
# needed even here.
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY dataflow_exporter ./dataflow_exporter
# A regular (non-editable) install: the virtualenv holds compiled bytecode and no source tree.
# pip and setuptools leave the virtualenv afterwards; the runtime never installs anything.
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools


FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="dataflow-exporter" \
      org.opencontainers.image.description="Prometheus exporter for PeerDB, Feldera, Confluent cluster linking and Etlworks" \
      org.opencontainers.image.licenses="Apache-2.0"

# The base image's pip, setuptools and wheel are build tools the runtime does not need. The user
# matches the Helm chart's runAsUser; having it in /etc/passwd gives it a name and a home.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 65532 exporter \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin exporter

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 65532:65532
WORKDIR /tmp
EXPOSE 9891

# Plain HTTP on the default port; with a web config that enables TLS or basic auth, run the
# container with --no-healthcheck (Kubernetes ignores this and uses the chart's probes).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9891/-/healthy', timeout=4)"]

ENTRYPOINT ["dataflow-exporter"]
CMD ["run", "--config", "/etc/dataflow-exporter/config.yaml"]
