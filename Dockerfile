# One image for every newsalerts process (migrate, web, worker, beat); docker-compose.yml
# picks the command. Two stages: the first builds every dependency as a wheel (with a
# compiler at hand, for any that has no binary wheel for this platform) and installs them
# into a virtual environment; the runtime stage is a clean slim image that receives only
# that environment and the project's source, and runs as an unprivileged user.
#
# The build context is the repository: add a .dockerignore (.git, .venv, outbox, *.db) to
# keep it small. Only the paths copied below end up in the image.

# --- build: wheels, then the virtual environment -------------------------------------------
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY alerts ./alerts
COPY subscribers ./subscribers
COPY migrations ./migrations
COPY templates ./templates

# Every dependency as a wheel, then installed from those wheels alone.
RUN pip wheel --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/*.whl

# The project itself is installed in editable form: its templates and migrations are read
# from /app at run time, where the runtime stage puts the very same files.
ENV PATH=/opt/venv/bin:$PATH
RUN pip install -e . --no-deps \
    && pip check

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    NEWSALERTS_ENV=production

# Production mode, whoever runs the image: every process refuses to start without a strong
# SECRET_KEY (`docker run -e SECRET_KEY=...`), so no container ever signs sessions and links
# with the development secret printed in the source. (`newsalerts web` in development mode
# also refuses to listen beyond loopback.)

# The processes run as an unprivileged user: a hole in the web app must not own the container.
RUN useradd --create-home --uid 10001 newsalerts

# The code and the environment stay owned by root, so the app cannot rewrite itself; /data
# is the one writable place (the default SQLite file and file:// outbox land there).
COPY --from=0 /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY alerts ./alerts
COPY subscribers ./subscribers
COPY migrations ./migrations
COPY templates ./templates
RUN mkdir /data \
    && chown newsalerts:newsalerts /data \
    && newsalerts --version

USER newsalerts
WORKDIR /data
EXPOSE 8000
CMD ["newsalerts", "web", "--host", "0.0.0.0", "--port", "8000"]
