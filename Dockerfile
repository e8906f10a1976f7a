# syntax=docker/dockerfile:1
# Built by fly.io's remote builder (`fly deploy`); tests/site/test_container.py replays its install,
# collectstatic and CMD steps on machines without a Docker engine.

FROM python:3.13-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /venv
# Dependencies first, from the hash-pinned lock, in their own layer: code changes reuse it.
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt
WORKDIR /app
COPY . .
# Throwaway values, on this command line only: no secret is baked into the image.
RUN SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 /venv/bin/python manage.py collectstatic --noinput

FROM python:3.13-slim
ENV PATH="/venv/bin:$PATH" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PORT=8000
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /venv /venv
COPY --from=build /app /app
WORKDIR /app
# By number: the runtime need not look the name up (hadolint DL3066).
USER 10001
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
