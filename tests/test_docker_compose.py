"""The compose stack: valid for Debian's docker-compose 1.29, and shaped as the docs promise.

Most checks read what `docker-compose config` resolves (anchors merged, variables
interpolated), so they test what compose will actually run. Those about the file as written
(a key repeated, the variables it takes from the shell or .env) read the file itself.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRET = "compose-test-secret-0123456789abcdef0123456789"
APP_SERVICES = ("migrate", "worker", "worker-feeds", "worker-urgent", "beat", "web")
# Every service that keeps running; `migrate` runs once and exits.
LONG_RUNNING = (
    "postgres",
    "redis",
    "mailpit",
    "worker",
    "worker-feeds",
    "beat",
    "web",
    "proxy",
    "flower",
)
NGINX_CONF = ROOT / "deploy" / "nginx.conf"

NO_COMPOSE = "the docker-compose binary is not installed (Debian: apt-get install docker-compose)"
requires_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason=NO_COMPOSE)


def compose(
    tmp_path: Path, *arguments: str, secret: str | None = SECRET
) -> subprocess.CompletedProcess[str]:
    """Run docker-compose on our file with a clean environment and an empty .env file.

    A developer's shell variables or a local .env must not make the test pass or fail.
    """
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    if secret is not None:
        environment["SECRET_KEY"] = secret
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


# Run by a Python that has PyYAML: Compose v2 refuses a mapping that names a key twice, while
# PyYAML (and so docker-compose 1.29) silently keeps the last one, so the loader refuses too.
# Keys that `<<` merges in from an anchor may still be overridden, as YAML allows.
_STRICT_YAML_TO_JSON = """
import json, sys, yaml

class StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

try:
    data = yaml.load(sys.stdin, Loader=StrictLoader)
except yaml.YAMLError as error:
    sys.exit(str(error))
json.dump(data, sys.stdout)
"""


def _python_with_yaml() -> list[str]:
    """This interpreter when it has PyYAML, else docker-compose's own.

    newsalerts does not depend on PyYAML, but Debian's docker-compose is a Python program
    that cannot run without it, so its interpreter (named on its #! line) can always parse.
    """
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass
    else:
        return [sys.executable]
    launcher = Path(shutil.which("docker-compose") or "docker-compose")
    if not launcher.exists():
        pytest.skip(NO_COMPOSE)
    first_line = launcher.read_bytes().split(b"\n", 1)[0].decode(errors="replace")
    if not first_line.startswith("#!"):
        pytest.skip("PyYAML is not installed and docker-compose is not a Python script")
    return first_line[2:].split()


def yaml_to_data(text: str) -> Any:
    """Parse YAML as plain data; ValueError naming the key when a mapping repeats one."""
    result = subprocess.run(
        [*_python_with_yaml(), "-c", _STRICT_YAML_TO_JSON],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise ValueError(result.stderr.strip())
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("docker-compose") is None:
        pytest.skip(NO_COMPOSE)
    result = compose(tmp_path_factory.mktemp("compose"), "config")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = yaml_to_data(result.stdout)
    return data


@requires_compose
def test_docker_compose_validates_the_file(tmp_path: Path) -> None:
    result = compose(tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr


@requires_compose
def test_the_stack_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = compose(tmp_path, "config", "-q", secret=None)
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_the_yaml_loader_refuses_a_repeated_key_but_not_a_merged_one() -> None:
    with pytest.raises(ValueError, match="found duplicate key 'SITE_NAME'"):
        yaml_to_data("x:\n  SITE_NAME: a\n  LIST_ID: b\n  SITE_NAME: c\n")
    merged = yaml_to_data("base: &base {a: 1, b: 2}\nservice:\n  <<: *base\n  b: 3\n")
    assert merged["service"] == {"a": 1, "b": 3}


def test_no_mapping_in_the_compose_file_repeats_a_key() -> None:
    """Compose v2 refuses such a file outright; 1.29 silently keeps the last value."""
    yaml_to_data(COMPOSE_FILE.read_text())


# Set in .env.example for running newsalerts outside compose; the compose file sets them
# itself, to the stack's own PostgreSQL and Redis.
OUTSIDE_COMPOSE = {"DATABASE_URL", "REDIS_URL"}
_INTERPOLATION = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
_ENV_EXAMPLE_SETTING = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def compose_variables(data: Any, *, environment: bool = False) -> set[str]:
    """The variables compose reads from the shell or .env: `${VAR}` and `$VAR` anywhere
    (`$$` is a literal dollar), and entries of an `environment` mapping left without a
    value, which compose passes through."""
    found: set[str] = set()
    if isinstance(data, str):
        for braced, bare in _INTERPOLATION.findall(data.replace("$$", "")):
            found.add(braced or bare)
    elif isinstance(data, list):
        for item in data:
            found |= compose_variables(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if environment and value is None:
                found.add(key)
            is_environment = key in ("environment", "x-environment")
            found |= compose_variables(value, environment=is_environment)
    return found


def test_compose_and_env_example_name_the_same_variables() -> None:
    """Every variable the compose file reads has a line in .env.example, and .env.example
    offers nothing the stack would ignore; and no line there is written twice."""
    data = yaml_to_data(COMPOSE_FILE.read_text())
    used = compose_variables(data)
    assert {"SECRET_KEY", "POSTGRES_PASSWORD", "SMTP_RATE", "FLOWER_BASIC_AUTH"} <= used
    assert "HOSTNAME" not in used  # `$$HOSTNAME` is the container's, at run time
    lines = _ENV_EXAMPLE_SETTING.findall((ROOT / ".env.example").read_text())
    repeated = sorted(name for name, count in Counter(lines).items() if count > 1)
    assert not repeated, f"written twice in .env.example: {repeated}"
    offered = set(lines)
    assert not used - offered, f"missing from .env.example: {sorted(used - offered)}"
    ignored = offered - used - OUTSIDE_COMPOSE
    assert not ignored, f"in .env.example but not used by docker-compose.yml: {sorted(ignored)}"
    for name in OUTSIDE_COMPOSE:  # set by the compose file, from nothing of the same name
        value = data["x-environment"][name]
        assert value and name not in compose_variables(value), name


def test_the_stack_has_every_service(config: dict[str, Any]) -> None:
    assert set(config["services"]) >= {
        "postgres",
        "redis",
        "mailpit",
        "migrate",
        "worker",
        "beat",
        "web",
        "proxy",
        "flower",
    }
    assert config["services"]["postgres"]["image"] == "postgres:16"
    assert config["services"]["redis"]["image"] == "redis:7"
    assert config["services"]["mailpit"]["image"].startswith("axllent/mailpit")


def test_redis_keeps_the_queue_on_disk(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    command = redis["command"]
    words = command.split() if isinstance(command, str) else [str(word) for word in command]
    pairs = set(itertools.pairwise(words))
    assert ("--appendonly", "yes") in pairs
    assert ("--appendfsync", "everysec") in pairs
    assert any(volume.split(":")[1] == "/data" for volume in redis["volumes"])


def test_redis_refuses_writes_rather_than_evicting_queued_tasks(config: dict[str, Any]) -> None:
    command = config["services"]["redis"]["command"]
    words = command.split() if isinstance(command, str) else [str(word) for word in command]
    assert ("--maxmemory-policy", "noeviction") in set(itertools.pairwise(words))


def test_there_is_exactly_one_scheduler(config: dict[str, Any]) -> None:
    services = config["services"]
    beat = services["beat"]
    assert beat["command"] == ["newsalerts", "beat"]
    assert beat.get("scale", 1) == 1
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    # No other process may run an embedded scheduler either (celery worker -B / --beat).
    for name, service in services.items():
        if name != "beat":
            command = service.get("command") or []
            assert "beat" not in command and "-B" not in command and "--beat" not in command


def test_app_services_share_one_environment(config: dict[str, Any]) -> None:
    services = config["services"]
    expected = {
        "DATABASE_URL": "postgresql://newsalerts:newsalerts@postgres/newsalerts",
        "REDIS_URL": "redis://redis:6379/0",
        "SMTP_URL": "smtp://mailpit:1025",
        "SECRET_KEY": SECRET,
        "BASE_URL": "http://localhost:8000",
    }
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert {key: environment.get(key) for key in expected} == expected, name
        assert environment["MAIL_FROM"] and environment["POSTAL_ADDRESS"], name
        assert services[name]["build"]["context"] == str(ROOT), name
    assert services["migrate"]["command"] == ["newsalerts", "db", "upgrade"]
    assert services["worker"]["command"] == [
        "newsalerts",
        "worker",
        "-Q",
        "newsalerts.urgent,newsalerts",
    ]
    assert services["web"]["command"][:2] == ["newsalerts", "web"]


def test_processes_start_in_order(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    # A restart policy would run the one-off migration again after it exits successfully.
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("worker", "worker-feeds", "worker-urgent", "beat", "web"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends_on["redis"] == {"condition": "service_healthy"}, name
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name


def test_a_worker_for_urgent_work_only_is_there_on_request(config: dict[str, Any]) -> None:
    services = config["services"]
    urgent = services["worker-urgent"]
    assert urgent["command"] == ["newsalerts", "worker", "-Q", "newsalerts.urgent"]
    assert urgent["profiles"] == ["urgent"]  # `docker-compose --profile urgent up -d`
    assert urgent["healthcheck"]["test"] == services["worker"]["healthcheck"]["test"]
    assert urgent["stop_grace_period"] == services["worker"]["stop_grace_period"]


def test_feed_polling_has_a_worker_of_its_own(config: dict[str, Any]) -> None:
    services = config["services"]
    feeds = services["worker-feeds"]
    assert feeds["command"] == [
        "newsalerts",
        "worker",
        "-Q",
        "newsalerts.feeds",
        "--concurrency",
        "1",
    ]
    assert "profiles" not in feeds  # always there: nothing else polls
    assert "newsalerts.feeds" not in " ".join(services["worker"]["command"])
    assert feeds["healthcheck"]["test"] == services["worker"]["healthcheck"]["test"]


def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, published, target) for each port, in either syntax compose prints."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        *host, published, target = str(port).split("/")[0].split(":")
        found.append((host[0] if host else "", int(published), int(target)))
    return found


def test_the_proxy_is_the_only_door_from_the_network(config: dict[str, Any]) -> None:
    """Slow clients exhausted the app server's connections when it was published itself."""
    services = config["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    mounts = [volume.split(":") for volume in proxy["volumes"]]
    assert [str(NGINX_CONF), "/etc/nginx/nginx.conf", "ro"] in mounts
    assert proxy["depends_on"]["web"] == {"condition": "service_healthy"}
    assert _ports(proxy) == [("", 8000, 8000)]
    # The app is reached through the proxy alone, and every other port stays on this
    # machine (Mailpit's UI shows every reader's private links).
    assert not services["web"].get("ports")
    for name, service in services.items():
        if name != "proxy":
            assert all(host == "127.0.0.1" for host, _, _ in _ports(service)), name
    # The app counts the proxy's hop when it reads client addresses for its rate limits.
    for name in APP_SERVICES:
        assert services[name]["environment"]["PROXY_COUNT"] == "1", name


def _nginx_directives(text: str) -> dict[str, list[str]]:
    """Each directive of an nginx configuration and its values, comments left out."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].strip().rstrip(";").split()
        if words and words[-1] not in ("{", "}") and words[0] != "}":
            found.setdefault(words[0], []).append(" ".join(words[1:]))
    return found


def test_the_proxy_bounds_slow_clients_and_passes_whole_requests() -> None:
    directives = _nginx_directives(NGINX_CONF.read_text())
    assert directives["client_header_timeout"] == ["10s"]
    assert directives["client_body_timeout"] == ["10s"]
    assert directives["client_max_body_size"] == ["128k"]
    assert directives["limit_conn"] == ["connections_per_client 32"]
    assert directives["limit_req"] == ["zone=requests_per_client burst=40 nodelay"]
    assert directives["proxy_request_buffering"] == ["on"]
    assert directives["proxy_buffering"] == ["on"]
    assert directives["proxy_pass"] == ["$newsalerts_web"]
    assert directives["set"] == ["$newsalerts_web http://web:8000"]
    assert directives["listen"] == ["8000"]
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in directives["proxy_set_header"]


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    # The pid file is the only path nginx writes at start; everything else goes to stdio.
    text = NGINX_CONF.read_text().replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(text)
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_flower_watches_the_same_broker_and_listens_locally(config: dict[str, Any]) -> None:
    services = config["services"]
    flower = services["flower"]
    assert flower["image"].startswith("mher/flower")
    assert flower["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert (
        flower["environment"]["CELERY_BROKER_URL"] == services["worker"]["environment"]["REDIS_URL"]
    )
    assert flower["depends_on"]["redis"] == {"condition": "service_healthy"}
    # Flower can shut workers down: published on the loopback interface only.
    assert _ports(flower) == [("127.0.0.1", 5555, 5555)]
    # The console and the metrics do not depend on it.
    for name in APP_SERVICES:
        assert "flower" not in services[name].get("depends_on", {}), name


def test_every_long_running_service_has_a_health_check(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "--destination" in services["worker"]["healthcheck"]["test"][1]
    assert "tick_is_recent" in " ".join(services["beat"]["healthcheck"]["test"])
    for name in ("worker", "beat", "web"):
        assert services[name]["depends_on"]["mailpit"] == {"condition": "service_healthy"}
    assert "/healthz" in " ".join(services["proxy"]["healthcheck"]["test"])


def test_workers_scale_and_the_scheduler_does_not(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    # `--scale worker=N` needs containers that differ in nothing: no fixed name, no host port.
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "container_name" not in config["services"]["beat"]


def test_every_setting_reaches_the_app_containers(config: dict[str, Any]) -> None:
    from alerts.config import Settings

    names = {
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    }
    for service in APP_SERVICES:
        missing = names - set(config["services"][service]["environment"])
        assert not missing, (service, missing)


def test_env_example_lists_every_setting_with_a_comment() -> None:
    from alerts.config import Settings

    lines = (ROOT / ".env.example").read_text().splitlines()
    setting = re.compile(r"^#? ?[A-Z][A-Z0-9_]*=")
    for name, field in Settings.model_fields.items():
        variable = str(field.validation_alias or name).upper()
        index = next(
            (
                i
                for i, line in enumerate(lines)
                if setting.match(line) and line.lstrip("# ").startswith(f"{variable}=")
            ),
            None,
        )
        assert index is not None, f"{variable} is missing from .env.example"
        # Its comment: the prose line right above it (or above its group of settings).
        while index > 0 and setting.match(lines[index - 1]):
            index -= 1
        assert index > 0 and lines[index - 1].startswith("# "), f"{variable} has no comment"


def test_dockerfile_builds_in_one_stage_and_runs_from_a_slim_one() -> None:
    instructions = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages: list[list[str]] = []
    for line in instructions:
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    assert len(stages) == 2
    build, runtime = stages
    assert any(line.startswith("RUN pip wheel") for line in build)
    assert runtime[0].startswith("FROM python:3.11-slim")
    # The runtime receives the built environment; no compiler, no wheel building there.
    assert any(line.startswith("COPY --from=0 /opt/venv") for line in runtime)
    assert not any("build-essential" in line or "pip wheel" in line for line in runtime)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_the_image_runs_in_production_mode() -> None:
    """`docker run` without NEWSALERTS_ENV once signed with the public development secret."""
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.index("AS runtime") :]
    environment = re.findall(r"^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$", runtime, re.MULTILINE)
    assert ("NEWSALERTS_ENV", "production") in environment
    instructions = [line for line in runtime.splitlines() if not line.lstrip().startswith("#")]
    # A secret baked into the image would be everyone's who has the image.
    assert not any("SECRET_KEY" in line for line in instructions)


def test_dockerfile_installs_the_project_and_drops_root() -> None:
    instructions = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any("pip install -e ." in line for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
