"""Uploaded media as production keeps them, on a real stack: the release step and the app
share one per-run volume at MEDIA_ROOT in the stack, nginx serves it at MEDIA_URL, locally a
per-run MEDIA_ROOT takes the uploads, and nothing is written into the app's checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"

VIEWS = '''
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.static import serve


@csrf_exempt
def upload(request):
    name = default_storage.save("uploads/" + request.FILES["file"].name, request.FILES["file"])
    return JsonResponse({"url": default_storage.url(name)}, status=201)


urlpatterns += [
    path("upload/", upload),
    # The dev server serves uploads itself (in the stack, nginx answers MEDIA_URL first).
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
'''

SEED = ("sh -c 'python manage.py shell -c \"from django.core.files.base import ContentFile; "
        "from django.core.files.storage import default_storage; default_storage.save("
        "\\\"seed/hello.txt\\\", ContentFile(b\\\"seeded by the release step\\\"))\" && echo seeded'")
"""A release command that needs a shell: `sh -c '... && ...'`, written as a TOML literal string."""
RELEASE = f"release = [\"python manage.py migrate --noinput\", '''{SEED} ''']\n"

SUITE = '''
def test_what_the_release_step_wrote_is_served(http):
    response = http.get("/media/seed/hello.txt")
    assert response.status_code == 200
    assert response.content == b"seeded by the release step"


def test_an_upload_is_served_at_media_url(http, environment):
    sent = b"an upload, kept where production keeps it\\n"
    response = http.post("/upload/", files={"file": ("note.txt", sent, "text/plain")})
    assert response.status_code == 201
    url = response.json()["url"]
    assert url == "/media/uploads/note.txt"
    served = http.get(url)
    assert served.status_code == 200
    assert served.content == sent
    if environment.name == "stack":  # nginx answers MEDIA_URL from the media volume itself
        assert served.headers["Server"].startswith("nginx")
'''


def test_uploads_are_kept_per_run_shared_by_release_and_app_and_served_at_media_url(
        tmp_path: Path) -> None:
    checkout = tmp_path / "uploads-app"
    shutil.copytree(TINYAPP, checkout)
    with open(checkout / "tinyapp" / "urls.py", "a") as urls:
        urls.write(VIEWS)
    with open(checkout / "pyproject.toml", "a") as config:
        config.write(RELEASE)
    (checkout / "test_media.py").write_text(SUITE)
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "app"], check=True)
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PARITY_DATABASE"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", COLUMNS="160")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--parity", "-p", "no:cacheprovider", "-v",
         f"--parity-report={reports}/r.json", f"--parity-html={reports}/r.html"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    # Every release command is named with its place and shell-quoted as the user wrote it.
    assert "stack: release step 2 of 2 (sh -c 'python manage.py shell -c" in output, output[-3000:]
    assert "local: release step 2 of 2 (sh -c 'python manage.py shell -c" in output
    assert done.returncode == 0 and "4 passed" in output, output[-3000:]  # both tests, both sides
    report = json.loads((reports / "r.json").read_text())
    assert {v["test_id"].rsplit("::", 1)[1]: v["kind"] for v in report["verdicts"]} == {
        "test_what_the_release_step_wrote_is_served": "match",
        "test_an_upload_is_served_at_media_url": "match"}
    # Nothing went into the checkout: no media directory, git sees no change at all.
    assert not (checkout / "media").exists()
    status = subprocess.run([*git, "status", "--porcelain", "--ignored", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status
    # And the run's media volume went with the run.
    engine = docker.from_env()
    assert [v.name for v in engine.volumes.list(filters={"label": "parity.run"})
            if v.name.startswith("parity-uploads-app")] == []
