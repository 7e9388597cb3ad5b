# The dispatcher's image: one image for every process (web, worker, clock, release), which
# the command picks: `docker run IMAGE web --host 0.0.0.0`, `... worker`, `... clock`,
# `... db upgrade`, `... doctor`. See docs/operations/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DISPATCHER_DATA_DIR=/var/lib/dispatcher \
    DISPATCHER_CONFIG_DIR=/app/config \
    DISPATCHER_TEMPLATES_DIR=/app/templates

# An unprivileged user runs every process; it owns only the data directory (the outbox's
# files), never the code, the configuration or the templates.
RUN groupadd --system --gid 10001 dispatcher \
    && useradd --system --uid 10001 --gid dispatcher --home-dir /app \
        --shell /usr/sbin/nologin dispatcher \
    && mkdir -p /var/lib/dispatcher \
    && chown dispatcher:dispatcher /var/lib/dispatcher

WORKDIR /app
# The code first (its dependencies change less often than the configuration).
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY emulator ./emulator
COPY demo_data ./demo_data
COPY migrations ./migrations
# Installed in place (editable): the migrations are found beside the package.
RUN python -m venv /opt/venv && pip install --upgrade pip && pip install -e .
COPY templates ./templates
COPY config ./config

USER dispatcher
EXPOSE 8000
ENTRYPOINT ["dispatcher"]
CMD ["web", "--host", "0.0.0.0", "--port", "8000"]
