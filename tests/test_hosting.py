"""Ready for hosting: the lock file, the Dockerfile, Compose, the systemd unit, the nginx
example, `makersbot --version` and `makersbot check`.

There is no Docker engine here, so the image is not built: the Dockerfile is parsed and its
commands (the release step, the web CMD and the HEALTHCHECK) are run for real in this
environment; Compose files are parsed (and checked by `docker compose config` where it
exists); the unit goes through `systemd-analyze verify` and `nginx -t` where they exist.
"""

from __future__ import annotations

import configparser
import importlib.metadata as metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from makersbot.cli import main
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # makersbot, gunicorn and python of this environment


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def lock() -> dict[str, str]:
    """requirements.txt as {canonical name: version}; fails on any line that is not a pin."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if not line or line.startswith("#") or line == ".":
            continue
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[\w.+-]+", version), f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the lock file and the Python version ----------------------------------------------------


def test_lock_has_every_runtime_pin_of_pyproject_at_the_same_version() -> None:
    pins = lock()
    for text in pyproject()["project"]["dependencies"]:
        requirement = Requirement(text)
        [spec] = requirement.specifier
        assert spec.operator == "==", f"pyproject pins exactly: {text}"
        assert pins.get(canonicalize_name(requirement.name)) == spec.version, text


def test_lock_pins_every_transitive_dependency_and_nothing_else() -> None:
    pins = lock()
    todo = [Requirement(r) for r in pyproject()["project"]["dependencies"]]
    done: set[tuple[str, str]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is needed but not pinned in requirements.txt"
        for extra in {"", *requirement.extras} - {e for n, e in done if n == name}:
            done.add((name, extra))
            for text in metadata.requires(requirement.name) or []:
                child = Requirement(text)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    todo.append(child)
    assert set(pins) == {name for name, _ in done}, "pins that nothing needs"
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line]
    assert lines[-1] == ".", "buildpacks must install makersbot itself (the Procfile runs it)"


def test_python_version_is_the_same_everywhere() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    assert version == "3.11"
    config = pyproject()
    assert config["project"]["requires-python"] == f">={version}"
    assert config["tool"]["mypy"]["python_version"] == version
    assert config["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert dockerfile().parent_images == [f"python:{version}-slim"] * 2


def test_make_lock_regenerates_requirements_from_a_fresh_install() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlock:\n", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet ." in recipe
    assert "pip freeze --exclude makersbot" in recipe and "> requirements.txt" in recipe
    assert "lock" in makefile.split(".PHONY:", 1)[1].splitlines()[0]


# --- the Dockerfile ---------------------------------------------------------------------------


def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(ROOT / "Dockerfile"), cache_content=True)


def instructions(name: str) -> list[str]:
    """The values of every `name` instruction of the final stage, in order."""
    values: list[str] = []
    for item in dockerfile().structure:
        if item["instruction"] == "FROM":
            values = []
        elif item["instruction"] == name:
            values.append(item["value"])
    return values


def healthcheck_command() -> list[str]:
    [value] = instructions("HEALTHCHECK")
    options, _, command = value.partition(" CMD ")
    assert "--timeout=" in options and "--interval=" in options
    return list(json.loads(command))


def test_image_runs_as_a_user_without_privileges() -> None:
    users = instructions("USER")
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and int(user) >= 1000
    run_lines = " ".join(instructions("RUN"))
    assert f"--uid {user}" in run_lines, "the user is created with that id"


def test_image_exposes_the_port_its_command_and_healthcheck_use() -> None:
    parser = dockerfile()
    port = parser.envs["PORT"]
    assert instructions("EXPOSE") == [port]
    assert any("/healthz" in part for part in healthcheck_command())
    assert json.loads(parser.cmd) == ["sh", "-c", "exec " + procfile()["web"]]


def test_image_gets_every_file_the_package_needs_and_never_secrets() -> None:
    copies = [item["value"] for item in dockerfile().structure if item["instruction"] == "COPY"]
    copied = {
        source
        for value in copies
        if not value.startswith("--from")
        for source in value.split()[:-1]
    }
    packages = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {pattern.rstrip("*") for pattern in packages} | {"pyproject.toml", "README.md"}
    assert needed | {"requirements.txt"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", "*.db", ".venv", ".git"} <= set(ignored)
    assert not copied & set(ignored)


@pytest.fixture
def web_env(tmp_path: Path, fake_slack: FakeSlack) -> dict[str, str]:
    """The image's environment with this venv on PATH, a SQLite file and the fake Slack."""
    env = {k: v for k, v in dockerfile().envs.items() if k not in ("PATH", "MPLCONFIGDIR")}
    return {
        **os.environ,
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'makersbot.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
    }


def healthy(env: dict[str, str]) -> bool:
    return subprocess.run(healthcheck_command(), env=env, capture_output=True).returncode == 0


def test_release_then_cmd_serve_and_the_healthcheck_sees_it(
    web_env: dict[str, str], tmp_path: Path
) -> None:
    release = subprocess.run(
        ["sh", "-c", procfile()["release"]], env=web_env, capture_output=True, text=True
    )
    assert release.returncode == 0, release.stderr
    assert not healthy(web_env), "nothing listens yet: the health check must fail"
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(json.loads(dockerfile().cmd), env=web_env, stderr=output)
    try:
        deadline = time.monotonic() + 40
        while not healthy(web_env) and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert server.poll() is None and healthy(web_env), log.read_text()[-2000:]
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0, "gunicorn stops cleanly on SIGTERM"


# --- docker-compose.yml -------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_runs_the_procfile_after_postgres_and_the_release() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "release", "web", "worker"}
    commands = {name: " ".join(s.get("command", [])) for name, s in services.items()}
    assert commands["release"] == procfile()["release"]
    assert commands["worker"] == procfile()["worker"]
    assert commands["web"] == "", "web runs the image's CMD, the Procfile's web line"
    assert services["release"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {
            "release": {"condition": "service_completed_successfully"}
        }
        assert services[name]["restart"] == "unless-stopped"
    assert services["release"]["restart"] == "no"
    for name in ("release", "web", "worker"):
        service = services[name]
        assert service["env_file"] == ".env" and service["build"] == "."
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@db:5432/" in service["environment"]["DATABASE_URL"]
    assert services["web"]["ports"] == ["127.0.0.1:3000:3000"]
    assert services["web"]["environment"]["PORT"] == "3000"


def test_compose_health_checks() -> None:
    services = compose()["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    web = services["web"]["healthcheck"]["test"]
    assert web[0] == "CMD" and "http://127.0.0.1:3000/healthz" in web[-1]
    for name in ("release", "worker"):  # no HTTP server in them
        assert services[name]["healthcheck"] == {"disable": True}


def test_compose_has_no_secret_written_in_it() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"xox[abp]-|xapp-|ghp_|github_pat_", text)
    interpolated = re.compile(r"\$\{[A-Z_]+(:\?[^}]*)?\}")
    for service in compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", name):
                assert interpolated.fullmatch(str(value)), f"{name} must come from .env"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert interpolated.fullmatch(password), f"{name} has a password inline"


def compose_cli() -> list[str] | None:
    """`docker compose` (v2) or `docker-compose` (v1), whichever works without an engine."""
    if shutil.which("docker"):
        version = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if version.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(compose_cli() is None, reason="neither docker compose nor docker-compose")
def test_compose_config_accepts_the_file(tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    cli = [*(compose_cli() or []), "--project-directory", str(tmp_path)]
    (tmp_path / ".env").write_text("")
    missing = subprocess.run([*cli, "config", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD in .env" in missing.stderr
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=example\n")
    done = subprocess.run([*cli, "config", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the systemd unit and the reverse proxy -----------------------------------------------------

UNIT = ROOT / "deploy" / "makersbot.service"


def test_systemd_unit_restarts_runs_unprivileged_and_is_hardened() -> None:
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["User"] == service["Group"] == "makersbot"
    assert service["Restart"] == "on-failure" and unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["EnvironmentFile"] == "/etc/makersbot/makersbot.env"
    assert shlex.split(service["ExecStart"])[1:] == ["serve"]
    assert shlex.split(service["ExecStartPre"])[1:] == ["db", "upgrade"]
    assert service["WorkingDirectory"] == "/var/lib/makersbot"
    assert service["StateDirectory"] == "makersbot"
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter": "@system-service",
    }
    assert {key: service.get(key) for key in hardening} == hardening
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit_and_rates_it_safe(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this environment's makersbot.
    unit = tmp_path / "makersbot.service"
    unit.write_text(UNIT.read_text().replace("/opt/makersbot/bin", str(BIN)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    assert verify.returncode == 0 and str(unit) not in verify.stderr, verify.stderr
    # Exposure 0.0 (locked down) .. 10.0 (exposed); systemd calls under 2.0 "OK".
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
    )
    assert security.returncode == 0, security.stdout[-300:]


NGINX = ROOT / "deploy" / "nginx.conf"


def test_nginx_example_passes_slack_and_webhooks_through() -> None:
    conf = NGINX.read_text()
    directives = dict(re.findall(r"^\s*([a-z_]+) ([^;{]*);", conf, flags=re.M))
    size = re.fullmatch(r"(\d+)m", directives["client_max_body_size"])
    assert size and int(size[1]) >= 25, "GitHub sends payloads of up to 25 MB"
    timeout = re.fullmatch(r"(\d+)s", directives["proxy_read_timeout"])
    assert timeout and 10 <= int(timeout[1]) <= 60, "longer than GitHub's 10 s, not hanging"
    assert re.search(r"upstream makersbot \{\s*server 127\.0\.0\.1:3000;", conf)
    assert directives["proxy_pass"] == "http://makersbot"
    assert directives["proxy_request_buffering"] == "on"
    assert "X-Forwarded-Proto $scheme" in conf and "return 301 https://" in conf
    assert "listen 443 ssl" in conf


@pytest.mark.skipif(
    not (shutil.which("nginx") and shutil.which("openssl")), reason="nginx not installed"
)
def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=makersbot.test", "-keyout", "key.pem", "-out", "cert.pem"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    site = re.sub(
        r"/etc/letsencrypt/live/[^/]+/fullchain\.pem", str(tmp_path / "cert.pem"), NGINX.read_text()
    )
    site = re.sub(r"/etc/letsencrypt/live/[^/]+/privkey\.pem", str(tmp_path / "key.pem"), site)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    test = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert test.returncode == 0 and "test is successful" in test.stderr, test.stderr


# --- makersbot --version and makersbot check ---------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"makersbot {metadata.version('makersbot')}"


HALF = [
    ({"TRELLO_API_KEY": "k"}, "TRELLO_API_KEY is set without TRELLO_TOKEN"),
    ({"TRELLO_TOKEN": "t"}, "TRELLO_TOKEN is set without TRELLO_API_KEY"),
    (
        {"TRELLO_API_SECRET": "s", "TRELLO_API_KEY": "k"},
        "TRELLO_API_SECRET is set but Trello is off",
    ),
    ({"GITHUB_WEBHOOK_SECRET": "w"}, "GITHUB_WEBHOOK_SECRET is set without GITHUB_TOKEN"),
    (
        {"GITHUB_TOKEN": "g", "GITHUB_WEBHOOK_SECRET": "w"},
        "GITHUB_WEBHOOK_SECRET is set without PUBLIC_URL",
    ),
    (
        {"TRELLO_API_KEY": "k", "TRELLO_TOKEN": "t", "TRELLO_API_SECRET": "s"},
        "TRELLO_API_SECRET is set without PUBLIC_URL",
    ),
    ({"GITHUB_TOKEN": "g", "PUBLIC_URL": "https://bot.example"}, "no webhooks are added"),
    ({"PUBLIC_URL": "http://bot.example"}, "PUBLIC_URL starts with http://"),
    ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_SIGNING_SECRET set without SLACK_BOT_TOKEN"),
]


@pytest.mark.parametrize(("env", "warning"), HALF, ids=[w.split(" ")[0] for _, w in HALF])
def test_check_warns_about_half_configured_integrations(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    warning: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0, "warnings alone do not fail the check"
    out = capsys.readouterr().out
    warnings = out.split("\nWarnings:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line for line in warnings if warning in line], out


def test_check_is_quiet_when_every_integration_is_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = {
        "GITHUB_TOKEN": "g",
        "GITHUB_WEBHOOK_SECRET": "w",
        "TRELLO_API_KEY": "k",
        "TRELLO_TOKEN": "t",
        "TRELLO_API_SECRET": "s",
        "PUBLIC_URL": "https://bot.example",
    }
    for name, value in whole.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0
    assert "Warnings" not in capsys.readouterr().out


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack) -> FakeSlack:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    return fake_slack


def test_check_asks_slack_who_the_token_is(
    slack_env: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "Slack: signed in to Fake (T0001, https://fake.slack.com/) as @makersbot (UBOT)." in out
    [call] = slack_env.calls("auth.test")
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert BOT_TOKEN not in out


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (200, "invalid_auth", "Slack refused SLACK_BOT_TOKEN at {url}: invalid_auth (the token"),
        (200, "account_inactive", "Slack refused SLACK_BOT_TOKEN at {url}: account_inactive (the"),
        (500, None, "Slack answered HTTP 500 (internal_error) at {url}: try again"),
    ],
)
def test_check_reports_a_refused_token_in_one_line(
    slack_env: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    status: int,
    error: str | None,
    expected: str,
) -> None:
    slack_env.fail_next("auth.test", status=status, error=error)
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("makersbot: " + expected.format(url=slack_env.base_url))
    assert len(captured.err.strip().splitlines()) == 1
    assert BOT_TOKEN not in captured.err + captured.out
    assert "Ready to serve" not in captured.out


def test_check_reports_slack_out_of_reach_in_one_line(
    slack_env: FakeSlack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    monkeypatch.setenv("SLACK_API_URL", url)
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"makersbot: Cannot reach Slack at {url}: ") and "refused" in err
    assert len(err.strip().splitlines()) == 1 and BOT_TOKEN not in err
