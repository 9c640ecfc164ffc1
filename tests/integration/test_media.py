"""Uploaded media as production keeps them, on a real stack: the release step and the app
share one per-run volume at MEDIA_ROOT in the stack, nginx serves it at MEDIA_URL, locally a
per-run MEDIA_ROOT takes the uploads, and nothing is written into the app's checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
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
        pytester: pytest.Pytester) -> None:
    shutil.copytree(TINYAPP, pytester.path, dirs_exist_ok=True)
    with open(pytester.path / "tinyapp" / "urls.py", "a") as urls:
        urls.write(VIEWS)
    with open(pytester.path / "pyproject.toml", "a") as config:
        config.write(RELEASE)
    pytester.makepyfile(test_media=SUITE)
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=pytester.path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "app"],
                   cwd=pytester.path, check=True)
    reports = pytester.path.parent / "reports"
    result = pytester.runpytest_subprocess(
        "--parity", "-p", "no:cacheprovider", "-v", f"--parity-report={reports}/r.json",
        f"--parity-html={reports}/r.html", timeout=600)
    output = result.stdout.str()
    # Every release command is named with its place and shell-quoted as the user wrote it.
    assert "stack: release step 2 of 2 (sh -c 'python manage.py shell -c" in output
    assert "local: release step 2 of 2 (sh -c 'python manage.py shell -c" in output
    result.assert_outcomes(passed=4)  # both tests, in both environments
    report = json.loads((reports / "r.json").read_text())
    assert {v["test_id"].rsplit("::", 1)[1]: v["kind"] for v in report["verdicts"]} == {
        "test_what_the_release_step_wrote_is_served": "match",
        "test_an_upload_is_served_at_media_url": "match"}
    # Nothing went into the checkout: no media directory, git sees no change.
    assert not (pytester.path / "media").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=pytester.path,
                            capture_output=True, text=True, check=True).stdout
    assert [line for line in status.splitlines() if "__pycache__" not in line] == [], status
    # And the run's media volume went with the run.
    engine = docker.from_env()
    assert [v.name for v in engine.volumes.list(filters={"label": "parity.run"})
            if v.name.startswith("parity-test-uploads")] == []
