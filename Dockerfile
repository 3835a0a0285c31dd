# One image for every newsalerts process (migrate, web, worker, beat); docker-compose.yml
# picks the command. Small on purpose: the slim base plus the project and its dependencies.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The processes run as an unprivileged user: a hole in the web app must not own the container.
RUN useradd --create-home --uid 10001 newsalerts

# The code stays owned by root, so the app cannot rewrite itself; /data is the one writable
# place (the default SQLite file and file:// outbox land in the working directory).
WORKDIR /app
COPY . /app
RUN pip install -e . \
    && mkdir /data \
    && chown newsalerts:newsalerts /data

USER newsalerts
WORKDIR /data
EXPOSE 8000
CMD ["newsalerts", "web", "--host", "0.0.0.0", "--port", "8000"]
