"""The README's run command: SQLite, the filesystem broker, a live worker and the demo mesh, with no
external server. Runs ``scripts/run`` for real and talks to it over HTTP."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/run exited early:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting its workers
            pass
        time.sleep(1)
    raise AssertionError(f"the portal did not answer in time:\n{log.read_text()[-4000:]}")


@pytest.fixture
def embedded_portal(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "DJANGO_", "PORTAL_"))}
    env.update(PORTAL_VAR_DIR=str(tmp_path / "var"), PORTAL_PORT=str(port), PORTAL_DEMO_PASSWORD="embedded-demo-pw")
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["./scripts/run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/accounts/login/", process, log)
        yield base, log, tmp_path / "var"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _token(base: str, username: str) -> dict[str, str]:
    response = requests.post(f"{base}/api/v1/auth/token/", json={"username": username,
                                                                 "password": "embedded-demo-pw"}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Token {response.json()['token']}"}


def test_the_run_command_serves_the_demo_mesh_with_a_live_worker(embedded_portal):
    base, log, var = embedded_portal
    assert (var / "portal.sqlite3").exists()
    assert re.search(r"Demo logins \(password: embedded-demo-pw\)", log.read_text())

    bob = _token(base, "bob")
    found = requests.get(f"{base}/api/v1/search/", params={"q": "adult"}, headers=bob, timeout=10).json()
    assert found["results"][0]["address"] == "hr.census.adult"
    charlie = _token(base, "charlie")
    assert requests.get(f"{base}/api/v1/datasets/hr.census.adult/", headers=charlie, timeout=10).status_code == 404

    alice = _token(base, "alice")
    backends = requests.get(f"{base}/api/v1/backends/", params={"domain": "hr"}, headers=alice, timeout=10).json()
    census = next(backend for backend in backends["results"] if backend["address"] == "hr.census")
    started = requests.post(f"{base}/api/v1/backends/{census['id']}/harvest/", headers=alice, timeout=10)
    assert started.status_code == 202, started.text
    run = started.json()
    deadline = time.monotonic() + 60
    while run["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        run = requests.get(f"{base}/api/v1/harvest-runs/{run['id']}/", headers=alice, timeout=10).json()
    assert run["status"] == "succeeded", (var / "worker.log").read_text()[-3000:]
    assert not any(run["report"].get(kind) for kind in ("added", "changed", "removed"))
