# The app image: gunicorn serving labbook.wsgi:application on port 8000, as a non-root user.
# Build context (made by build.sh): src/ = the project, wheels/ = its wheelhouse.
ARG PARITY_BASE_IMAGE=python:3.11-slim
FROM ${PARITY_BASE_IMAGE}

ARG LABBOOK_COLLECTSTATIC=1
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=labbook.settings

RUN useradd --system --home-dir /app --no-create-home --shell /usr/sbin/nologin labbook

COPY src/requirements.txt /tmp/requirements.txt
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
    && pip install --no-index --no-cache-dir --find-links /tmp/wheels -r /tmp/requirements.txt \
    && rm -rf /tmp/wheels /tmp/requirements.txt

COPY src/ /app/
WORKDIR /app
# Into the settings' default STATIC_ROOT (/app/staticfiles), so the settings stay the same as
# in development; the frontend image copies the files from there.
RUN if [ "$LABBOOK_COLLECTSTATIC" = "1" ]; then \
        python manage.py collectstatic --noinput --verbosity 0; \
    else \
        mkdir -p staticfiles; \
    fi

# The change: MEDIA_ROOT belongs to the app user, so the media volume mounted there does too.
RUN mkdir -p media && chown labbook media
USER labbook
EXPOSE 8000
CMD ["gunicorn", "labbook.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--access-logfile", "-"]
