"""The sandbox speaks the documented contract over raw HTTP, with real media and a CLI."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import requests
from PIL import Image

from rivya.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


def api(sandbox: Sandbox, method: str, path: str, *, key: str | None = "default", **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {sandbox.api_key if key == 'default' else key}"
    return requests.request(method, f"{sandbox.url}/api/v1{path}", headers=headers, timeout=10, **kwargs)


def finish(sandbox: Sandbox, task_id: str) -> dict:
    for _ in range(100):
        body = api(sandbox, "GET", f"/generations/{task_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_error_body_shape_on_every_path(sandbox: Sandbox) -> None:
    for method, path in (
        ("GET", "/credits"),
        ("POST", "/generations"),
        ("GET", "/generations/x"),
        ("POST", "/files"),
        ("GET", "/files/x"),
    ):
        reply = api(sandbox, method, path, key=None)
        assert reply.status_code == 401
        error = reply.json()["error"]
        assert error["code"] == "api_key_missing" and error["message"] and error["requestId"].startswith("req_")
    assert api(sandbox, "GET", "/credits", key="rvya_sk_wrong").json()["error"]["code"] == "api_key_invalid"
    assert sandbox.journal and not any(e.authorized for e in sandbox.journal)
    api(sandbox, "GET", "/credits")
    assert sandbox.journal[-1].authorized


def test_models_shape(sandbox: Sandbox) -> None:
    body = api(sandbox, "GET", "/models", key=None).json()
    assert body["object"] == "list"
    video = next(m for m in body["data"] if m["id"] == "grok-imagine-video")
    for field in (
        "display_name",
        "category",
        "runtime",
        "base_credits",
        "billing_type",
        "max_prompt_length",
        "params",
        "api_status",
    ):
        assert field in video
    assert video["base_credits"] == 10 and video["category"] == "video"
    assert {p["key"] for p in video["params"]} == {"mode", "duration", "resolution", "aspect_ratio"}


def test_lifecycle_and_task_shape(sandbox: Sandbox) -> None:
    created = api(sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "hi", "client_request_id": "c-1"})
    assert created.status_code == 201
    task = created.json()
    assert task["status"] == "queued" and task["result"] is None and task["error"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", task["created_at"])
    statuses = set()
    for _ in range(100):
        body = api(sandbox, "GET", f"/generations/{task['id']}").json()
        statuses.add(body["status"])
        if body["status"] == "succeeded":
            break
        time.sleep(0.02)
    assert statuses >= {"processing", "succeeded"}
    assert body["result"]["primary_url"] == body["result"]["urls"][0] and body["final_credits"] == 4


def test_top_level_files_field_and_bad_json_are_refused(sandbox: Sandbox) -> None:
    reply = api(sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "x", "files": ["a"]})
    assert reply.status_code == 400 and "referenceMediaItems" in reply.json()["error"]["message"]
    reply = api(sandbox, "POST", "/generations", data=b"{nope", headers={"Content-Type": "application/json"})
    assert reply.json()["error"]["code"] == "validation_failed"
    reply = api(sandbox, "POST", "/files", data={"kind": "image"})
    assert reply.status_code == 400


@pytest.mark.parametrize(
    ("ratio", "pro", "size"), [("1:1", False, (1024, 1024)), ("9:16", True, (864, 1536)), ("3:2", False, (1024, 682))]
)
def test_image_results_are_real_pngs(sandbox: Sandbox, ratio: str, pro: bool, size: tuple[int, int]) -> None:
    params = {"aspect_ratio": ratio, "enable_pro": "true" if pro else "false"}
    task = api(sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "a cat", "params": params}).json()
    assert requests.get(f"{sandbox.url}/media/{task['id']}.png", timeout=5).status_code == 404  # not done yet
    body = finish(sandbox, task["id"])
    reply = requests.get(body["result"]["primary_url"], timeout=10)
    assert reply.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(reply.content))
    assert image.format == "PNG" and image.size == size


def test_video_results_have_the_requested_duration_and_size(sandbox: Sandbox) -> None:
    params = {"duration": 7, "resolution": "720p", "aspect_ratio": "16:9", "mode": "fun"}
    task = api(sandbox, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": "waves", "params": params}).json()
    reply = requests.get(finish(sandbox, task["id"])["result"]["primary_url"], timeout=30)
    assert reply.headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(reply.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert float(stream.duration * stream.time_base) == pytest.approx(7, abs=0.1)


def test_wallet_drain_and_insufficient_credits(sandbox: Sandbox) -> None:
    sandbox.set_credits(9)
    reply = api(sandbox, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": "x"})
    assert reply.json()["error"]["code"] == "insufficient_credits"
    assert api(sandbox, "GET", "/credits").json() == {"current_credits": 9}


def test_concurrent_creates_with_one_key_make_one_task(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(_: int) -> str:
        reply = api(
            sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "same"}, headers={"Idempotency-Key": "k"}
        )
        return reply.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1 and len(sandbox.state.tasks) == 1
    assert api(sandbox, "GET", "/credits").json()["current_credits"] == 996


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_and_the_readme_example_runs(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rivya.sandbox", "--host", "127.0.0.1", "--port", str(port), "--image-seconds", "1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert "Rivya sandbox on" in proc.stdout.readline()
        readme = (ROOT / "README.md").read_text()
        example = re.search(r"<!-- example -->\s*```python\n(.*?)```", readme, re.S).group(1)
        assert len(example.strip().splitlines()) <= 12
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RIVYA_BASE_URL": f"http://127.0.0.1:{port}",
            "RIVYA_API_KEY": "rvya_sk_sandbox_local",
        }
        run = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "succeeded" in run.stdout
        saved = next(tmp_path.glob("*.png"))
        assert Image.open(saved).size == (1024, 576)
    finally:
        proc.terminate()
        proc.wait(10)
