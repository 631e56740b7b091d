# Forecast 2.0 flow-run image: the ECS task image prefect.yaml's build step pushes to ECR.
# Multi-stage: the runtime dependencies (requirements-runtime.lock: the project without its dev
# extra, at requirements.lock's versions) are installed in a builder venv, then copied.
FROM python:3.11.7-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements-runtime.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements-runtime.lock
COPY forecast ./forecast
COPY tasks ./tasks
COPY flows ./flows
COPY blocks ./blocks
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11.7-slim-bookworm
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
