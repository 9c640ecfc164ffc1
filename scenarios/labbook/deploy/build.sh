#!/usr/bin/env bash
# Build labbook's two images: the app (gunicorn + code + collected static files) and the
# frontend (nginx, serving those static files and proxying everything else to the app).
#
# The image builds need no network: Python dependencies come from a wheelhouse built here,
# on the host, and are installed in the image with `pip install --no-index`.
#
# Environment (all optional):
#   PARITY_BASE_IMAGE       base of the app image          (default python:3.11-slim)
#   PARITY_FRONTEND_IMAGE   base of the frontend image     (default nginx:stable)
#   LABBOOK_APP_IMAGE       tag of the app image           (default labbook-app:dev)
#   LABBOOK_FRONTEND_IMAGE  tag of the frontend image      (default labbook-frontend:dev)
#   LABBOOK_COLLECTSTATIC   "0": skip collectstatic, the frontend then serves no static files
#   PYTHON                  interpreter whose pip builds the wheelhouse (default python3)
set -euo pipefail

deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project_dir=$(dirname "$deploy_dir")
base_image=${PARITY_BASE_IMAGE:-python:3.11-slim}
frontend_base=${PARITY_FRONTEND_IMAGE:-nginx:stable}
app_image=${LABBOOK_APP_IMAGE:-labbook-app:dev}
frontend_image=${LABBOOK_FRONTEND_IMAGE:-labbook-frontend:dev}
collectstatic=${LABBOOK_COLLECTSTATIC:-1}
python=${PYTHON:-python3}

context=$(mktemp -d "${TMPDIR:-/tmp}/labbook-build.XXXXXX")
trap 'rm -rf "$context"' EXIT

echo "build.sh: wheelhouse for $project_dir/requirements.txt"
"$python" -m pip wheel --quiet --disable-pip-version-check \
    --wheel-dir "$context/wheels" -r "$project_dir/requirements.txt"

# The app's code, without what does not belong in the image.
mkdir "$context/src"
tar -C "$project_dir" \
    --exclude=./deploy --exclude=./tests --exclude=./staticfiles --exclude=./.venv \
    --exclude=__pycache__ --exclude='*.pyc' --exclude=.git --exclude=.pytest_cache \
    -cf - . | tar -C "$context/src" -xf -

echo "build.sh: $app_image (from $base_image)"
docker build \
    --build-arg PARITY_BASE_IMAGE="$base_image" \
    --build-arg LABBOOK_COLLECTSTATIC="$collectstatic" \
    --file "$deploy_dir/app.Dockerfile" --tag "$app_image" "$context"

echo "build.sh: $frontend_image (from $frontend_base)"
docker build \
    --build-arg PARITY_FRONTEND_IMAGE="$frontend_base" \
    --build-arg LABBOOK_APP_IMAGE="$app_image" \
    --file "$deploy_dir/frontend.Dockerfile" --tag "$frontend_image" "$deploy_dir"
