"""docker/: what can be checked without a container engine. The compose file, the nginx
config, the Dockerfile and .dockerignore agree with each other, with authd's settings and
with scripts/install."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from authd.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def authd_env() -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES["authd"]["environment"].items()}


def test_every_service_restarts_and_has_a_health_check():
    for name, service in SERVICES.items():
        assert service.get("restart") in ("always", "unless-stopped"), name
        assert "healthcheck" in service, name


def test_authd_replicas_are_checked_on_readyz_and_published_only_through_the_balancer():
    authd, lb = SERVICES["authd"], SERVICES["lb"]
    assert authd["deploy"]["replicas"] >= 2
    assert "/readyz" in " ".join(authd["healthcheck"]["test"])
    assert "ports" not in authd, "replicas are reached through the load balancer"
    assert [p.split(":")[-1] for p in lb["ports"]] == ["8080"]
    assert "/readyz" in " ".join(lb["healthcheck"]["test"])
    assert lb["depends_on"]["authd"]["condition"] == "service_healthy"
    mount = next(v for v in lb["volumes"] if "nginx.conf" in v)
    assert (ROOT / "docker" / mount.split(":")[0]).resolve() == ROOT / "docker/nginx.conf"


def test_nginx_balances_the_authd_service_on_the_published_port():
    conf = (ROOT / "docker/nginx.conf").read_text()
    assert re.search(r"server\s+authd:8000\b", conf)
    assert re.search(r"listen\s+8080;", conf)
    assert "proxy_pass http://authd;" in conf
    body = int(re.search(r"client_max_body_size\s+(\d+)m;", conf).group(1)) * 2**20
    assert body > Settings.model_fields["max_body_bytes"].default  # authd's own 413 wins
    assert conf.count("{") == conf.count("}")


def test_compose_settings_are_real_settings_for_production_with_webhook_delivery():
    env = authd_env()
    fields = set(Settings.model_fields)
    for name in env:
        assert name.startswith("AUTHD_") and name[6:].lower() in fields, f"unknown {name}"
    assert env["AUTHD_MODE"] == "production"
    assert env["AUTHD_OTP_NOTIFIER"] == "webhook"  # never the file outbox
    for secret in ("AUTHD_MASTER_KEY", "AUTHD_OTP_WEBHOOK_URL", "AUTHD_OTP_WEBHOOK_SECRET"):
        assert ":?" in env[secret], f"{secret} must come from the operator, required"
    waits = float(env["AUTHD_DATABASE_WAIT_SECONDS"])
    assert waits >= 30  # PostgreSQL's first start (initdb) takes a while
    assert SERVICES["authd"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_settings_validate_as_production_settings():
    values = {k[6:].lower(): v for k, v in authd_env().items()}
    values.update(master_key="ab" * 32, otp_webhook_url="https://gw.example/otp",
                  otp_webhook_secret="a-real-secret-value",
                  database_url="postgresql://authd:pw-from-env@db/authd")
    settings = Settings(**values)
    assert settings.is_production and settings.otp_notifier == "webhook"


def ignored(patterns: list[str], path: str) -> bool:
    parts = path.split("/")
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if fnmatch.fnmatch(path, pattern) or any(fnmatch.fnmatch(p, bare) for p in parts):
            return True
    return False


@pytest.mark.parametrize("path", [".venv/bin/python", "data/authd.db", "data/dev-master.key",
                                  "data-dev-secrets/dev-master.key",
                                  "data/signing-keys/k1.key", ".git/config", "x/y.pem"])
def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context(path):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert ignored(patterns, path)


def test_dockerignore_keeps_what_the_dockerfile_copies():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = re.findall(r"^COPY (?!--from)(.+?) \S+$", (ROOT / "docker/Dockerfile").read_text(),
                        flags=re.M)
    for source in " ".join(copies).split():
        assert (ROOT / source).exists(), source
        assert not ignored(patterns, source), source


def test_dockerfile_installs_as_scripts_install_does():
    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    install = (ROOT / "scripts/install").read_text()
    for pin in re.findall(r'"(setuptools<\d+|face_recognition==[\d.]+)"', install):
        assert f'"{pin}"' in dockerfile, pin
    assert "--no-deps" in dockerfile and "/readyz" in dockerfile
