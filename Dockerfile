# Forecast 2.0 flow-run image: the ECS task image prefect.yaml's build step pushes to ECR.
# Multi-stage: the runtime dependencies (requirements-runtime.lock: the project without its dev
# extra, at requirements.lock's versions) are installed in a builder venv, then copied.
#
# BASE_IMAGE: the production base is the default. Machines that reach no container registry
# build on a Debian-packaged stand-in (`make image`: infra/image/build-base.sh; what differs is
# in docs/deploy.md). Both stages must use the same base: the venv links to its interpreter.
# PIP_CA_BUNDLE: a CA bundle path for pip, for builds behind a TLS-inspecting proxy (`make image`
# mounts the host's /etc/ssl/certs read-only for the build only); empty = pip's own bundle.
ARG BASE_IMAGE=python:3.11.7-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG PIP_CA_BUNDLE=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements-runtime.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ${PIP_CA_BUNDLE:+--cert "$PIP_CA_BUNDLE"} -r requirements-runtime.lock
COPY forecast ./forecast
COPY tasks ./tasks
COPY flows ./flows
COPY blocks ./blocks
RUN /opt/venv/bin/pip install ${PIP_CA_BUNDLE:+--cert "$PIP_CA_BUNDLE"} --no-deps .

FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 forecast
COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/forecast
COPY --chown=forecast prefect.yaml ./
COPY --chown=forecast forecast ./forecast
COPY --chown=forecast tasks ./tasks
COPY --chown=forecast flows ./flows
COPY --chown=forecast blocks ./blocks
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
USER forecast
# The ECS worker overrides the command with the flow run; this default lets `docker run` check the install.
CMD ["forecast", "--help"]
