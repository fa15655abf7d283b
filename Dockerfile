# Canary: one image for the worker and the gateway (the command picks the role).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY canary ./canary
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
COPY sandbox ./sandbox
COPY worker.py ./
RUN pip install . && useradd --create-home --uid 10001 canary
USER canary

# Overridden per service in docker-compose.yml: `canary worker` or `canary gateway`.
CMD ["canary", "worker"]
