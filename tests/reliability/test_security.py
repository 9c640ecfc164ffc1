"""Security properties of a real `pytest --parity` run, checked while its stack is up.

One run of a tinyapp copy that carries secrets (a git-tracked `.env`, an SSH key, a
credentials file, a TLS key, a secret setting in [tool.parity] env) stops at a gate in its
[stack] test; meanwhile this module looks at what the run exposes. The throwaway Postgres's
own guarantees (listen addresses, pg_hba, wrong passwords refused from a container) are
tested at the library level in tests/integration/test_postgres.py; here they are checked on
the cluster a whole run starts.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import harness, leftovers
from tests.reliability.harness import Case

pytestmark = pytest.mark.integration

SUITE = '''
import os
import time
from pathlib import Path


def test_status(http):
    assert http.get("/").json() == {"ok": True}


def test_greeting(http):
    """Diverges: the stack's greeting differs, so the reports carry differences and settings."""
    assert http.get("/greeting/").status_code == 200


def test_gate(http, environment):
    assert http.get("/").status_code == 200
    gate = os.environ.get("RELTEST_GATE")
    if gate and environment.name == "stack":
        Path(gate, "reached").touch()
        deadline = time.monotonic() + 120
        while not Path(gate, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
'''

SECRET_FILES = (".env", "id_rsa", "secrets/credentials.json", "deploy/server.key", ".netrc")


@dataclass
class Observed:
    """What the paused run exposed, and what it left when it ended."""

    token: str
    secret_key: str
    api_token: str
    code: int = 0
    output: str = ""
    password: str = ""
    postgres_port: int = 0
    listening: dict[int, set[str]] = field(default_factory=dict)
    local_port: int = 0
    bindings: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    wrong_password: str = ""
    right_password: str = ""
    argv_with_password: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    tls_key: str = ""
    """The body of the stack's TLS server key, read inside the frontend while the run was up."""
    tls_key_mode: str = ""
    https_answer: str = ""
    tls_files: list[str] = field(default_factory=list)
    http_redirect: str = ""
    left: str = "not counted"


def _listening(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (IPv6 ones as hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
                          if len(address) == 8 else address)
    return found


def _gateway() -> str:
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "docker0"],
                           capture_output=True, text=True, check=True).stdout
    return shown.split()[3].partition("/")[0]


def _argv_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in argv:
                found.append(argv[:200])
    return found


def _probe_stack(case: Case, seen: Observed) -> None:
    engine = leftovers.client()
    run_id = next(iter(case.scope.run_ids))
    containers = engine.containers.list(filters={"label": f"parity.run={run_id}"})
    assert containers, "the stack's containers carry the run label"
    for container in containers:
        service = container.labels["com.docker.compose.service"]
        ports = container.attrs["NetworkSettings"]["Ports"] or {}
        seen.bindings[service] = [f"{b['HostIp']}:{b['HostPort']}->{inner}"
                                  for inner, bound in ports.items() for b in bound or []]
        seen.users[service] = container.exec_run(["id", "-u"]).output.decode().strip()
        if service == "frontend":
            key = container.exec_run(["cat", "/etc/parity-run/tls/key.pem"]).output.decode()
            seen.tls_key = "".join(line for line in key.splitlines() if not line.startswith("-----"))
            seen.tls_key_mode = container.exec_run(
                ["stat", "-c", "%a %u", "/etc/parity-run/tls/key.pem"]).output.decode().strip()
            _probe_https(case, seen, ports)
        if service == "app":
            env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
            seen.password = env["PGPASSWORD"]
            probe = ("import os, psycopg2\nurl = os.environ['DATABASE_URL']{}\n"
                     "try:\n    psycopg2.connect(url, connect_timeout=5)\n    print('CONNECTED')\n"
                     "except psycopg2.OperationalError as exc:\n    print('REFUSED', exc)\n")
            wrong = ".replace(os.environ['PGPASSWORD'], 'not-the-password')"
            seen.wrong_password = container.exec_run(["python", "-c", probe.format(wrong)]).output.decode()
            seen.right_password = container.exec_run(["python", "-c", probe.format("")]).output.decode()


def _probe_https(case: Case, seen: Observed, ports: dict[str, Any]) -> None:
    """The entry answers over TLS with a certificate of the run's CA; plain http redirects."""
    import requests

    https = next(int(b["HostPort"]) for b in ports.get("8443/tcp") or [])
    plain = next(int(b["HostPort"]) for b in ports.get("8080/tcp") or [])
    ca = next(case.app.tmpdir.glob("parity-run-*/parity-stack-*/frontend/tls/ca.pem"))
    seen.tls_files = sorted(path.name for path in ca.parent.iterdir())
    answer = requests.get(f"https://127.0.0.1:{https}/", verify=str(ca), timeout=10)
    seen.https_answer = f"{answer.status_code} {answer.text.strip()}"
    redirect = requests.get(f"http://127.0.0.1:{plain}/greeting/", allow_redirects=False, timeout=10)
    seen.http_redirect = f"{redirect.status_code} {redirect.headers.get('Location')} {https}"


def _layer_findings(image: str, names: tuple[str, ...], needles: tuple[bytes, ...]) -> list[str]:
    """Secret-looking file names, and secret contents, in any layer of `image` (`docker save`)."""
    found = []
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    assert save.stdout is not None
    with tarfile.open(fileobj=save.stdout, mode="r|") as outer:
        for member in outer:
            if not member.name.endswith("layer.tar"):
                continue
            layer = outer.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=layer, mode="r|") as files:
                for entry in files:
                    base = entry.name.rsplit("/", 1)[-1]
                    if base in names or entry.name.endswith(names):
                        found.append(f"{member.name}: {entry.name}")
                    if entry.isfile() and entry.size < 4 * 1024 * 1024:
                        data = files.extractfile(entry)
                        content = data.read() if data is not None else b""
                        found += [f"{member.name}: {entry.name} holds a secret"
                                  for needle in needles if needle in content]
    assert save.wait() == 0
    return found


@pytest.fixture(scope="module")
def observed(scratch: Path) -> Iterator[Observed]:
    app = harness.make_app(scratch, "relsec", unique_settings=True)
    scope = app.scope(leftovers.image_ids())
    seen = Observed(token=uuid.uuid4().hex, secret_key=f"s3cr3t-{uuid.uuid4().hex}",
                    api_token=f"tok-{uuid.uuid4().hex}")
    for name in SECRET_FILES:
        path = app.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"SECRET={seen.token}\n")
    (app.dir / "test_behavior.py").write_text(SUITE)
    app.configure(f'env = {{ DJANGO_SECRET_KEY = "{seen.secret_key}" }}\n'
                  f'[tool.parity.stack]\nenv = {{ TINYAPP_GREETING = "moin", API_TOKEN = "{seen.api_token}" }}\n')
    # git-tracked on purpose: tracked secrets must not enter the image either
    git = ["git", "-C", str(app.dir), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A", "-f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app with secrets"], check=True)
    try:
        run = harness.ParityRun(app, env=app.env(RELTEST_GATE=str(app.gate)))
        try:
            harness.wait_for_file(app.gate / "reached", run, timeout=300)
            scope.add_output(run.output)
            seen.postgres_port = int(run.wait_for(r"^postgres: cluster on .* port (\d+)").split(" port ")[1].split()[0])
            seen.local_port = int(run.wait_for(r"^local: serving at").split(":")[-1].split()[0])
            _probe_stack(Case(app, scope), seen)
            seen.listening = {port: _listening(port) for port in (seen.postgres_port, seen.local_port)}
            seen.argv_with_password = _argv_mentioning(seen.password)
        finally:
            (app.gate / "go").touch()
            seen.code = run.finish(timeout=300)
            seen.output = run.output
            scope.add_output(run.output)
        seen.images = [tag for image in leftovers.client().images.list(filters={"label": f"parity.app={app.name}"})
                       for tag in image.tags]
        seen.reports = {name: (app.dir / name).read_text()
                        for name in ("parity-report.json", "parity-report.html")}
        seen.left = leftovers.settle(scope)
        yield seen
    finally:
        leftovers.remove_all(scope)
        harness.remove_app_images(app.name)


def test_the_run_diverged_as_arranged_and_left_nothing(observed: Observed) -> None:
    assert observed.code == 1, observed.output[-3000:]
    assert "test_greeting" in observed.output and "diverge" in observed.output
    assert observed.left == ""


def test_postgres_listens_on_loopback_and_the_bridge_gateway_only(observed: Observed) -> None:
    assert observed.listening[observed.postgres_port] == {"127.0.0.1", _gateway()}


def test_postgres_refuses_a_wrong_password_from_the_app_container(observed: Observed) -> None:
    assert observed.right_password.startswith("CONNECTED"), observed.right_password
    assert observed.wrong_password.startswith("REFUSED"), observed.wrong_password
    assert "password authentication failed" in observed.wrong_password


def test_every_published_port_is_on_loopback(observed: Observed) -> None:
    assert observed.bindings["frontend"], "the entry service is published"
    published = [binding for bindings in observed.bindings.values() for binding in bindings]
    assert published and all(binding.startswith("127.0.0.1:") for binding in published), published
    assert observed.listening[observed.local_port] == {"127.0.0.1"}, "runserver binds loopback only"


def test_containers_do_not_run_as_root(observed: Observed) -> None:
    assert set(observed.users) == {"app", "frontend"}
    assert all(uid.isdigit() and uid != "0" for uid in observed.users.values()), observed.users


def test_no_secret_file_enters_any_image_layer(observed: Observed) -> None:
    assert len(observed.images) == 2
    assert "left out secret-looking files" in observed.output
    names = tuple(name.rsplit("/", 1)[-1] for name in SECRET_FILES)
    for image in observed.images:
        assert _layer_findings(image, names, (observed.token.encode(),)) == []


def test_the_stack_speaks_https_with_the_runs_ca_and_plain_http_redirects(observed: Observed) -> None:
    assert observed.https_answer == '200 {"ok": true}'
    status, location, https_port = observed.http_redirect.split()
    assert (status, location) == ("301", f"https://127.0.0.1:{https_port}/greeting/")


def test_the_tls_key_is_the_frontend_users_alone_and_in_no_image_layer(observed: Observed) -> None:
    assert len(observed.tls_key) > 60, "the key was read inside the frontend during the run"
    mode, owner = observed.tls_key_mode.split()
    assert (mode, owner) == ("400", observed.users["frontend"])
    for image in observed.images:
        assert _layer_findings(image, ("key.pem", "ca.pem"),
                               (observed.tls_key.encode(),)) == []
    # The throwaway CA's key never leaves parity's memory: nothing on disk holds it.
    assert observed.tls_files == ["ca.pem", "cert.pem", "key.pem"]


def test_the_password_is_never_on_a_command_line(observed: Observed) -> None:
    assert observed.password and observed.argv_with_password == []


@pytest.mark.parametrize("where", ["terminal", "parity-report.json", "parity-report.html"])
def test_outputs_never_show_the_password_or_secret_settings(observed: Observed, where: str) -> None:
    text = observed.output if where == "terminal" else observed.reports[where]
    assert text
    for secret in (observed.password, observed.secret_key, observed.api_token, observed.token,
                   observed.tls_key):
        assert secret not in text, f"{where} shows a secret"
    assert "PRIVATE KEY" not in text, f"{where} shows a private key"
    if where == "parity-report.json":
        report: dict[str, Any] = json.loads(text)
        assert report["declared_differences"]["stack"]["API_TOKEN"] != observed.api_token


LEAKY_RELEASE = ("python -c \\\"import os, sys; print('starting with', os.environ['DATABASE_URL'], "
                 "os.environ['DJANGO_SECRET_KEY']); sys.exit(3)\\\"")


def test_log_tails_of_a_failed_start_never_show_secrets(scratch: Path) -> None:
    """A release step that prints its configuration as it fails: parity shows the step's log
    tail (it says why the start failed) with the password and secret settings blanked out."""
    app = harness.make_app(scratch, "relleak", unique_settings=True)
    scope = app.scope(leftovers.image_ids())
    secret_key = f"s3cr3t-{uuid.uuid4().hex}"
    app.configure(f'release = "{LEAKY_RELEASE}"\nenv = {{ DJANGO_SECRET_KEY = "{secret_key}" }}\n')
    try:
        code, output = harness.run_to_end(app)
        scope.add_output(output)
        assert code == 7, output[-3000:]
        shown = re.search(r"starting with postgresql://parity:(\S*)@\S+ (\S+)", output)
        assert shown is not None, output[-3000:]
        assert shown.groups() == ("[redacted]", "[redacted]"), "password and secret key are blanked out"
        assert secret_key not in output
        assert leftovers.settle(scope) == ""
    finally:
        leftovers.remove_all(scope)
        harness.remove_app_images(app.name)
