"""The image recipe and fly.toml, checked without a Docker engine.

fly.io's builder builds the image. Here the Dockerfile's own install and collectstatic steps run
in a fresh virtual environment, and its exact CMD starts the app that a person then signs in to.
"""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from http import HTTPStatus
from pathlib import Path

import pytest

from config.health import HEALTH_PATH
from harness.servers import ROOT, AppServer, free_port, stop_process, wait_for_port
from tests.helpers import app_environment, ask_for_a_link, confirm_the_link, link_in

FLY = tomllib.loads((ROOT / "fly.toml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            instructions.append((instruction.upper(), arguments.strip()))
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            result.append([])
        result[-1].append((instruction, arguments))
    return result


def gunicorn_settings(**env: str) -> dict:
    settings: dict = {}
    previous = os.environ.copy()
    os.environ.update(env)
    try:
        exec((ROOT / "config" / "gunicorn.py").read_text(), settings)  # noqa: S102 - our file
    finally:
        os.environ.clear()
        os.environ.update(previous)
    return settings


def test_the_runtime_stage_runs_the_python_the_virtual_environment_was_built_with():
    build, runtime = stages()
    build_image, _, _ = build[0][1].partition(" AS ")

    # A venv links to its interpreter: copied onto another Python, it would not start.
    assert build_image == runtime[0][1]


def test_the_image_installs_from_the_hashed_lock_before_copying_the_code():
    build, _ = stages()
    steps = [f"{instruction} {arguments}" for instruction, arguments in build]
    install = next(i for i, step in enumerate(steps) if "--require-hashes" in step)
    copy_code = steps.index("COPY . .")

    assert "COPY requirements.txt" in steps[install - 1]
    assert install < copy_code


def test_the_image_runs_as_a_user_without_privileges_and_keeps_no_secret():
    _, runtime = stages()
    users = [arguments for instruction, arguments in runtime if instruction == "USER"]
    environment = " ".join(arguments for instruction, arguments in runtime if instruction == "ENV")

    runs = " ".join(arguments for instruction, arguments in runtime if instruction == "RUN")

    (user,) = users
    assert user != "0" and f"--uid {user}" in runs  # a system user made for the purpose
    assert "SECRET_KEY" not in environment
    assert "ARG" not in {instruction for instruction, _ in dockerfile_instructions()}


def copy_build_context(destination: Path) -> None:
    """The files `docker build` would send: tracked files minus .dockerignore's patterns."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in tracked:
        parts = Path(name).parts
        if any(fnmatch(name, p) or fnmatch(parts[0], p) for p in patterns):
            continue
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_the_image_recipe_installs_collects_static_files_and_serves_a_sign_in(tmp_path, mailbox):
    build, runtime = stages()
    root = tmp_path / "image"
    context = tmp_path / "context"
    context.mkdir()
    copy_build_context(context)

    # The image's absolute paths, moved under a temporary folder.
    def inside(text: str) -> str:
        return re.sub(r"(?<![\w/])/(venv|app|tmp)\b", lambda m: f"{root}/{m.group(1)}", text)

    for folder in ("venv", "app", "tmp"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    python_bin = tmp_path / "python-bin"
    python_bin.mkdir()
    (python_bin / "python").symlink_to(sys.executable)
    env = {"PATH": f"{python_bin}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    workdir = context

    for instruction, arguments in build[1:]:
        if instruction == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                env[key] = value
        elif instruction == "WORKDIR":
            workdir = Path(inside(arguments))
        elif instruction == "COPY" and arguments == ". .":
            shutil.copytree(context, workdir, dirs_exist_ok=True)
        elif instruction == "COPY":
            source, target = arguments.split()
            shutil.copy2(context / source, inside(target))
        elif instruction == "RUN":
            subprocess.run(["bash", "-c", inside(arguments)], cwd=workdir, env=env, check=True)

    assert list((root / "app" / "staticfiles" / "css").glob("site.*.css.br"))

    runtime_env = {"PATH": os.environ["PATH"]}
    command: list[str] = []
    for instruction, arguments in runtime:
        if instruction == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                runtime_env[key] = inside(value.replace("$PATH", runtime_env["PATH"]))
        elif instruction == "CMD":
            command = json.loads(arguments)
    port = free_port()
    runtime_env.update(app_environment(port))
    runtime_env.update(
        {key: os.environ[key] for key in os.environ if key.startswith(("EMAIL_", "REDIS_"))},
        PORT=str(port),
    )
    # fly runs each of fly.toml's [processes] in the image, in place of its CMD.
    assert shlex.split(FLY["processes"]["app"]) == command
    processes = [
        subprocess.Popen(shlex.split(line), cwd=root / "app", env=runtime_env)
        for line in FLY["processes"].values()
    ]
    try:
        wait_for_port(port, timeout=30, process=processes[0])
        app = AppServer(runtime_env, port=port)  # only for its browser-like client
        with app.client() as browser:
            assert browser.get("/").status_code == HTTPStatus.OK
            ask_for_a_link(browser, "ship@example.com")
            confirm_the_link(browser, link_in(mailbox.message_to("ship@example.com", timeout=20)))
            signed_in = browser.get("/dashboard/")
            stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]+\.css)"', signed_in.text)
            css = browser.get(stylesheet.group(1), headers={"Accept-Encoding": "br"})
        assert "Hello, ship@example.com" in signed_in.text
        assert css.status_code == HTTPStatus.OK
        assert css.headers["Content-Encoding"] == "br"
        assert "immutable" in css.headers["Cache-Control"]
    finally:
        for process in processes:
            stop_process(process)


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_fly_routes_requests_to_the_web_process_only():
    assert FLY["http_service"]["processes"] == ["app"]


def test_fly_serves_the_port_the_image_exposes_and_gunicorn_binds():
    _, runtime = stages()
    exposed = next(arguments for instruction, arguments in runtime if instruction == "EXPOSE")
    port = FLY["http_service"]["internal_port"]

    assert str(port) == exposed == FLY["env"]["PORT"]
    assert gunicorn_settings(PORT=FLY["env"]["PORT"])["bind"] == f"0.0.0.0:{port}"


def test_fly_checks_the_health_path_the_app_answers():
    (check,) = FLY["http_service"]["checks"]

    assert check["path"] == HEALTH_PATH == "/healthz"
    assert check["method"] == "GET"


def test_fly_migrates_before_each_release_without_the_request_time_limits():
    command = shlex.split(FLY["deploy"]["release_command"])
    assignments = dict(word.split("=", 1) for word in command if "=" in word)
    assert command[0] == "env" and command[-4:] == ["python", "manage.py", "migrate", "--noinput"]

    env = {**os.environ, **assignments, "SECRET_KEY": "x" * 50, "DATABASE_URL": "postgres://db/app"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    options = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "statement_timeout" not in options and "connect_timeout" not in options


def test_fly_stops_machines_the_way_gunicorn_and_the_mail_worker_finish_their_work():
    gunicorn = gunicorn_settings()
    env = {k: v for k, v in os.environ.items() if k != "EMAIL_TIMEOUT"} | {"EMAIL_HOST": "mail"}
    code = "from django.conf import settings; print(settings.MAILERS['default']['OPTIONS'])"
    mail = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout

    assert FLY["kill_signal"] == "SIGTERM"  # both finish what they hold on SIGTERM
    assert FLY["kill_timeout"] > gunicorn["graceful_timeout"]
    assert gunicorn["timeout"] >= gunicorn["graceful_timeout"]
    # The worker finishes the email in hand: one SMTP conversation, bounded by EMAIL_TIMEOUT.
    assert FLY["kill_timeout"] > ast.literal_eval(mail)["timeout"]


def test_fly_prefers_machines_with_free_threads_and_stops_at_what_the_workers_hold():
    gunicorn = gunicorn_settings(
        WEB_CONCURRENCY=FLY["env"]["WEB_CONCURRENCY"],
        GUNICORN_THREADS=FLY["env"]["GUNICORN_THREADS"],
    )
    concurrency = FLY["http_service"]["concurrency"]

    assert concurrency["type"] == "requests"
    # Past the threads, fly prefers other machines; requests still being read cost no thread
    # (config/workers.py), so a machine takes more before fly stops sending it any.
    assert concurrency["soft_limit"] == gunicorn["workers"] * gunicorn["threads"]
    assert concurrency["soft_limit"] < concurrency["hard_limit"]
    assert concurrency["hard_limit"] <= gunicorn["workers"] * gunicorn["worker_connections"]


def test_fly_forces_https_keeps_a_machine_up_and_names_the_client_ip_header():
    service = FLY["http_service"]

    assert service["force_https"] is True
    assert service["min_machines_running"] >= 1
    assert service["auto_start_machines"] is True
    assert FLY["env"]["TRUSTED_PROXY_HEADER"] == "Fly-Client-IP"
    # whitenoise serves static files, compressed and with far-future caching.
    assert "statics" not in FLY


def test_gunicorn_never_logs_a_query_string_or_referer():
    access_log_format = gunicorn_settings()["access_log_format"]

    assert "%(U)s" in access_log_format
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%({"):
        assert leaky not in access_log_format
