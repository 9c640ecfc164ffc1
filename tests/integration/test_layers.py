"""Each divergence names its layer: real runserver, real nginx -> gunicorn, real replays.

A copy of tests/apps/tinyapp gets an upload endpoint (in the copy only) and a greeting that
only the stack changes ([tool.parity.stack] env). nginx's default 1m client_max_body_size
refuses the upload: `frontend`. The greeting differs in gunicorn itself: `app image`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"

UPLOAD_VIEW = '''

from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def upload(request):
    return JsonResponse({"size": len(request.body)})


urlpatterns.append(path("upload/", upload))
'''

SUITE = '''
import pytest

BIG = b"x" * (1536 * 1024)  # more than nginx's default client_max_body_size (1m)


def test_status(http):
    assert http.get("/").json() == {"ok": True}


@pytest.mark.parity_replay
def test_upload(http):
    r = http.post("/upload/", data=BIG)
    assert r.status_code == 200


def test_upload_not_opted_in(http):
    http.post("/upload/", data=BIG)


def test_greeting(http):
    assert http.get("/greeting/").json()["greeting"] == "hello"
'''


def make_app(pytester: pytest.Pytester) -> Path:
    shutil.copytree(TINYAPP, pytester.path, dirs_exist_ok=True)
    with open(pytester.path / "tinyapp" / "urls.py", "a") as urls:
        urls.write(UPLOAD_VIEW)
    with open(pytester.path / "pyproject.toml", "a") as config:
        config.write('\n[tool.parity.stack]\nenv = { TINYAPP_GREETING = "moin" }\n')
    pytester.makepyfile(test_behavior=SUITE)
    return pytester.path


def layers(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text())
    return {v["test_id"].split("::")[-1]: v for v in report["verdicts"]}


def check(found: dict[str, dict[str, Any]]) -> None:
    assert (found["test_status"]["kind"], found["test_status"]["layer"]) == ("match", None)

    upload = found["test_upload"]
    assert (upload["kind"], upload["layer"]) == ("outcome", "frontend")
    assert "answers like [local] (status 200)" in upload["evidence"][0]
    assert "status 413" in upload["evidence"][0]
    assert upload["evidence"][1].startswith("client_max_body_size: nginx refused the 1.5 MB")

    blind = found["test_upload_not_opted_in"]
    assert (blind["kind"], blind["layer"]) == ("diverge", "unknown")
    assert "POST is not safe to replay; add @pytest.mark.parity_replay" in blind["evidence"][0]

    greeting = found["test_greeting"]
    assert (greeting["kind"], greeting["layer"]) == ("outcome", "app image")
    assert "app server's own answer already differs" in greeting["evidence"][0]
    assert "body:$.greeting" in greeting["evidence"][0]
    named = "\n".join(greeting["evidence"][1:])
    assert "declared: TINYAPP_GREETING ([tool.parity.stack] env only)" in named
    assert "setting GREETING: local 'hello', stack 'moin'" in named or "GREETING" in named


def test_each_divergence_names_its_layer_serial_and_under_xdist(pytester: pytest.Pytester) -> None:
    app = make_app(pytester)
    serial = pytester.runpytest_subprocess("--parity", "-p", "no:cacheprovider",
                                           "--parity-report=serial.json", timeout=600)
    assert serial.ret == 1
    check(layers(app / "serial.json"))
    # The failing [stack] test says where, and so does the summary.
    serial.stdout.fnmatch_lines(["*test_upload?stack?*", "*layer: frontend*",
                                 "*client_max_body_size*"])
    serial.stdout.fnmatch_lines(["*OUTCOME *test_upload  (layer: frontend)*",
                                 "*↳ client_max_body_size: nginx refused*"])
    serial.stdout.fnmatch_lines(["*OUTCOME *test_greeting  (layer: app image)*"])
    page = (app / "parity-report.html").read_text()
    assert page.count('<div class="layer" data-layer="frontend">') == 1
    assert page.count('<div class="layer" data-layer="app image">') == 1

    # Under xdist the replays travel to the controller inside the [stack] recordings.
    parallel = pytester.runpytest_subprocess("--parity", "-p", "no:cacheprovider", "-n", "2",
                                             "--parity-report=parallel.json", timeout=600)
    assert parallel.ret == 1
    check(layers(app / "parallel.json"))
