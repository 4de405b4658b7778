# One image for the four Probidad services. Compose (or any orchestrator) chooses the service:
#   python -m services.enrollment | services.attendance | services.certification | services.reporting
# The service reads its PROBIDAD_* settings from the environment; nothing secret is baked in.
#
# PYTHON_IMAGE is the base of both stages: the official Python image by default; any Debian-like image with
# python (>= 3.11, with venv), groupadd and useradd works, e.g. the one deploy/podman/python/Containerfile
# makes from Debian's packages where no image can be pulled (`probidad stack up` builds it so).
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: install the package and its dependencies into a virtual environment
FROM ${PYTHON_IMAGE} AS build
# Optional: a CA bundle for pip (a build behind a TLS-inspecting proxy); unset, pip uses its own. Only
# this stage sees it, so the image does not keep it.
ARG PIP_CERT

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/probidad
WORKDIR /src
# .dockerignore lets in only what the package is built from (pyproject, README, the packages).
COPY . .
RUN /opt/probidad/bin/pip install . \
 && cd / && /opt/probidad/bin/python -c "import probidad, contracts, services"

# ---- runtime: the virtual environment, a non-root user, nothing else
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="probidad" \
      org.opencontainers.image.description="Probidad services (enrollment, attendance, certification, reporting)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH="/opt/probidad/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROBIDAD_HTTP_HOST=0.0.0.0 \
    PROBIDAD_STATE_DIR=/var/lib/probidad

RUN groupadd --system --gid 10001 probidad \
 && useradd --system --uid 10001 --gid probidad --home-dir /var/lib/probidad --no-create-home \
            --shell /usr/sbin/nologin probidad \
 && mkdir -p /var/lib/probidad \
 && chown probidad:probidad /var/lib/probidad

COPY --from=build /opt/probidad /opt/probidad

USER probidad:probidad
WORKDIR /var/lib/probidad
# /var/lib/probidad holds local state (the certification signing key when none is mounted, SQLite files
# when no database URL is given); mount a volume there where that state must outlive the container.

EXPOSE 8001 8002 8003 8004

# Healthy = GET /health answers 200 (database and Kafka reachable). Uses the port the service listens on;
# python is used because the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PROBIDAD_HTTP_PORT', '8000'), timeout=4)"]

# No default service: run one with `python -m services.<name>`; without a command, show the CLI's help.
CMD ["probidad", "--help"]
