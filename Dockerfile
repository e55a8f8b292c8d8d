# syntax=docker/dockerfile:1
# Two stages: `build` installs the dependencies into /app/.venv (cached until requirements/ or setup.sh change), the
# runtime stage copies that venv and the code only. Variants (build arg TORCH_VARIANT):
#   cpu  (default) torch from the PyTorch CPU index: a much smaller image
#   cuda           torch from PyPI, which bundles the CUDA runtime; run it with a GPU reservation
#                  (docker-compose.yml, profile "gpu") and DUBLE_DEVICE=cuda:0
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VARIANT=cpu
RUN apt-get update && apt-get install -y --no-install-recommends build-essential espeak-ng sox libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/ requirements/
COPY scripts/setup.sh scripts/setup.sh
RUN if [ "$TORCH_VARIANT" = cpu ]; then export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu; fi \
    && SETUP_SKIP_PROJECT=1 PIP_NO_CACHE_DIR=1 bash scripts/setup.sh
COPY pyproject.toml ./
COPY realtime/ realtime/
COPY synthesis/ synthesis/
COPY billing/ billing/
# Editable: the code is served from /app (the pages read web_client/ next to it), in both stages at the same path.
RUN .venv/bin/python -m pip install --no-deps --no-cache-dir -e .

FROM ${PYTHON_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng sox libsndfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /app duble
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY pyproject.toml ./
COPY realtime/ realtime/
COPY synthesis/ synthesis/
COPY billing/ billing/
COPY web_client/ web_client/
RUN mkdir -p /app/.duble-data && chown duble /app/.duble-data
USER duble
ENV DUBLE_HOST=0.0.0.0 DUBLE_PORT=8000 PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=4s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# SIGTERM drains (going_away, DUBLE_DRAIN_DEADLINE_S); give it a stop timeout above that deadline.
STOPSIGNAL SIGTERM
CMD ["duble", "serve"]
