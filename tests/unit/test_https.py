"""HTTPS in the stack without Docker: config, the throwaway CA, what follows from declared
settings, the browser's Origin, and the evidence for what breaks behind TLS."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import pytest

from parity.comparison.compare import compare
from parity.comparison.layers import https_causes
from parity.comparison.recording import Exchange, Recording, RecordingSession
from parity.configuration import load_config
from parity.environments import tls
from parity.environments.appsettings import AppSettings, declared_noise
from parity.support.errors import ParityConfigError


def app(root: Path, extra: str = "") -> Path:
    (root / "mysite").mkdir(exist_ok=True)
    (root / "mysite" / "wsgi.py").write_text("application = None\n")
    (root / "manage.py").write_text("")
    (root / "requirements.txt").write_text("django\n")
    (root / "compose.yaml").write_text("services: {}\n")
    (root / "pyproject.toml").write_text('[tool.parity]\nwsgi = "mysite.wsgi:application"\n'
                                         'settings = "mysite.settings"\n' + extra)
    return root


def test_generated_stacks_speak_https_unless_told_otherwise(tmp_path: Path) -> None:
    assert load_config(app(tmp_path), environ={}).stack.scheme == "https"
    assert load_config(app(tmp_path, '[tool.parity.stack]\nscheme = "http"\n'), environ={}).stack.scheme == "http"


def test_own_compose_files_speak_https_where_the_frontend_reads_parity_s_certificate(tmp_path: Path) -> None:
    own = '[tool.parity.stack]\ncompose_file = "compose.yaml"\n'
    assert load_config(app(tmp_path, own), environ={}).stack.scheme == "http"
    config = load_config(app(tmp_path, own + 'tls_certificate = "/etc/nginx/certs/site.crt"\n'
                                            'tls_key = "/etc/nginx/certs/site.key"\n'), environ={})
    assert (config.stack.scheme, config.stack.tls_key) == ("https", "/etc/nginx/certs/site.key")


@pytest.mark.parametrize(("extra", "key", "fix"), [
    ('[tool.parity.stack]\nscheme = "tls"\n', "tool.parity.stack.scheme", 'scheme = "http" opts out'),
    ('[tool.parity.stack]\ntls_key = "/k"\n', "tool.parity.stack.tls_key", "generated stacks terminate TLS themselves"),
    ('[tool.parity.stack]\ncompose_file = "compose.yaml"\nscheme = "https"\n', "tool.parity.stack.scheme",
     "name the paths where your frontend reads its certificate"),
    ('[tool.parity.stack]\ncompose_file = "compose.yaml"\ntls_certificate = "/c"\n', "tool.parity.stack.tls_key",
     "name both tls_certificate and tls_key"),
    ('[tool.parity.stack]\ncompose_file = "compose.yaml"\ntls_certificate = "c.pem"\ntls_key = "/k"\n',
     "tool.parity.stack.tls_certificate", "e.g. tls_certificate = "),
])
def test_bad_tls_config_names_the_key_and_the_fix(tmp_path: Path, extra: str, key: str, fix: str) -> None:
    with pytest.raises(ParityConfigError) as raised:
        load_config(app(tmp_path, extra), environ={})
    assert raised.value.key == key and fix in raised.value.fix


def test_the_run_s_certificate_is_for_loopback_and_its_key_stays_private(tmp_path: Path) -> None:
    made = tls.make(tmp_path / "tls")
    assert sorted(p.name for p in made.directory.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.ca.stat().st_mode) == 0o644
    context = ssl.create_default_context(cafile=str(made.ca))
    context.load_cert_chain(str(made.certificate), str(made.key))  # the pair matches
    text = made.certificate.read_text()
    assert "PRIVATE" not in text and "PRIVATE" not in made.ca.read_text()
    secrets = tls.secrets_of(made)
    assert secrets and secrets[0] in made.key.read_text().replace("\n", "")
    if os.geteuid() == 0:
        tls.hand_key_to(made, 33)
        assert (made.key.stat().st_uid, stat.S_IMODE(made.key.stat().st_mode)) == (33, 0o400)


def settings(module: str, **security: object) -> AppSettings:
    return AppSettings(module, "", "/media/", "/static/", {}, security)


def cookie(name: str, *attrs: str) -> tuple[str, str]:
    return ("Set-Cookie", "; ".join([f"{name}=v", "Path=/", "SameSite=Lax", *attrs]))


def recording(side: str, base: str, *headers: tuple[str, str]) -> Recording:
    return Recording("t", side, [Exchange("GET", "/", status=200, headers=list(headers))], base_url=base)


def test_secure_cookies_and_hsts_that_only_the_stack_declares_are_declared_not_divergent() -> None:
    noise = declared_noise(settings("mysite.settings.dev"),
                           settings("mysite.settings.production", SESSION_COOKIE_SECURE=True,
                                    CSRF_COOKIE_SECURE=True, SECURE_HSTS_SECONDS=31536000))
    assert {(r.kind, r.target, r.source) for r in noise} == {
        ("cookie_flag", "sessionid:secure", "declared"), ("cookie_flag", "csrftoken:secure", "declared"),
        ("header", "strict-transport-security", "declared")}
    local = recording("local", "http://127.0.0.1:1", cookie("sessionid", "HttpOnly"))
    stack = recording("stack", "https://127.0.0.1:2", cookie("sessionid", "HttpOnly", "Secure"),
                      ("Strict-Transport-Security", "max-age=31536000"))
    verdict = compare(local, stack, noise)
    assert verdict.kind == "match", verdict.differences
    assert {rule.target for rule, _ in verdict.ignored} >= {"sessionid:secure", "strict-transport-security"}
    # Everything else about that cookie is still compared.
    other = recording("stack", "https://127.0.0.1:2", cookie("sessionid", "Secure"))
    assert compare(local, other, noise).kind == "diverge"


def test_without_the_declaration_a_secure_flag_in_the_stack_only_diverges() -> None:
    local = recording("local", "http://127.0.0.1:1", cookie("sessionid"))
    stack = recording("stack", "https://127.0.0.1:2", cookie("sessionid", "Secure"))
    assert compare(local, stack).kind == "diverge"


def test_a_json_value_naming_each_side_s_own_scheme_follows_from_it() -> None:
    local = Recording("t", "local", [Exchange("GET", "/", status=200, content_type="application/json",
                                              body='{"scheme": "http", "kind": "http"}')],
                      base_url="http://127.0.0.1:1")
    stack = Recording("t", "stack", [Exchange("GET", "/", status=200, content_type="application/json",
                                              body='{"scheme": "https", "kind": "ftp"}')],
                      base_url="https://127.0.0.1:2")
    verdict = compare(local, stack)
    assert [d.field for d in verdict.differences] == ["body:$.kind"]


def test_unsafe_requests_carry_the_origin_a_browser_sends(tmp_path: Path) -> None:
    session = RecordingSession("https://127.0.0.1:8443", Recording("t", "stack"))
    assert session._with_origin(None) == {"Origin": "https://127.0.0.1:8443"}
    assert session._with_origin({"Referer": "https://x/"}) == {"Referer": "https://x/"}
    assert session._with_origin({"origin": "null"}) == {"origin": "null"}


def test_a_redirect_loop_and_a_csrf_refusal_are_named() -> None:
    hop = Exchange("GET", "/health/", status=301, headers=[("Location", "{base_url}/health/")])
    looping = Recording("t", "stack", [hop] * 5, base_url="https://127.0.0.1:2")
    causes = https_causes(looping, hop)
    assert causes and causes[0].startswith("redirect loop: 5 redirects of GET /health/ to itself")
    assert "SECURE_PROXY_SSL_HEADER" in causes[0]
    onward = Exchange("GET", "/", status=302, headers=[("Location", "{base_url}/accounts/login/")])
    assert https_causes(Recording("t", "stack", [onward] * 5), onward) == []
    refused = Exchange("POST", "/login/", status=403, body="<p>CSRF verification failed. Request aborted.</p>")
    assert "CSRF_TRUSTED_ORIGINS" in https_causes(Recording("t", "stack", [refused]), refused)[0]
