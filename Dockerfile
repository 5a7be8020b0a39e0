# makersbot in a container: the web server of the Procfile by default.
#
#   docker build -t makersbot .
#   docker run --rm --env-file .env makersbot makersbot db upgrade      # release: every deploy
#   docker run -d --env-file .env -p 127.0.0.1:3000:3000 makersbot       # web (this CMD)
#   docker run -d --no-healthcheck --env-file .env makersbot makersbot worker   # one worker
#
# Or `docker compose up` (docker-compose.yml): PostgreSQL, the release step, web and worker.
# One container on SQLite instead: `makersbot serve` with DATABASE_URL=sqlite:////data/makersbot.db
# and a volume on /data. See "Deploying" in README.md. tests/test_hosting.py checks this file.

ARG PYTHON_VERSION=3.11

# --- build: a virtual environment with the locked dependencies and makersbot ------------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/makersbot
ENV PATH=/opt/makersbot/bin:$PATH
WORKDIR /src
# Dependencies first, from the lock file (all but its last line, `.`, which is the app):
# this layer is rebuilt only when a pin changes, not on every code change.
COPY requirements.txt ./
RUN grep -vx '\.' requirements.txt > /tmp/pins.txt \
    && pip install --requirement /tmp/pins.txt
COPY pyproject.toml README.md ./
COPY makersbot ./makersbot
COPY handlers ./handlers
COPY integrations ./integrations
RUN pip install --no-deps .

# --- run: the slim base, the environment, a user without privileges ------------------------
FROM python:${PYTHON_VERSION}-slim
LABEL org.opencontainers.image.title="makersbot" \
      org.opencontainers.image.description="A Slack bot for Makers Project Teams" \
      org.opencontainers.image.licenses="MIT"
# A fixed numeric id, so that volume ownership is predictable and platforms that insist on a
# non-root user (Kubernetes runAsNonRoot) can see it is one.
RUN groupadd --system --gid 10001 makersbot \
    && useradd --system --uid 10001 --gid makersbot --create-home --home-dir /home/makersbot makersbot \
    && mkdir /data \
    && chown makersbot:makersbot /data
COPY --from=build /opt/makersbot /opt/makersbot
ENV PATH=/opt/makersbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    WEB_CONCURRENCY=2 \
    MPLCONFIGDIR=/home/makersbot/.cache/matplotlib
# The working folder: a `.env` here is read, and the default SQLite file would live here.
WORKDIR /data
USER 10001:10001
# Build matplotlib's font cache now, not while the first weekly digest is being drawn.
RUN python -c "import matplotlib.font_manager"
EXPOSE 3000
# /healthz answers 503 when the database is unreachable; urlopen raises on it, so exit 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# The Procfile's web line, unchanged; `exec` makes gunicorn PID 1, so it receives SIGTERM.
CMD ["sh", "-c", "exec gunicorn --worker-class asgi --asgi-lifespan off --workers ${WEB_CONCURRENCY:-2} --bind 0.0.0.0:$PORT 'makersbot.server:create_asgi_app()'"]
