FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng sox libsndfile1 build-essential \
    postgresql-client redis-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN bash scripts/setup.sh
ENV DUBLE_HOST=0.0.0.0 DUBLE_PORT=8000
EXPOSE 8000
CMD [".venv/bin/duble", "serve"]
