"""The sandbox speaks the documented contract over raw HTTP, with real media and a CLI."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import requests
from PIL import Image

from rivya.catalog import validate
from rivya.sandbox import Sandbox, Timing, load_contract

from .conftest import ManualClock, image_bytes
from .postgres_server import free_port

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
    duration = next(p for p in video["params"] if p["key"] == "duration")
    assert duration == {"key": "duration", "type": "number", "default": 6, "min": 6, "max": 30, "step": 1}


def test_lifecycle_and_task_shape() -> None:
    # The sandbox's own clock, moved by the test: each phase is seen whatever the machine's load.
    clock = ManualClock()
    with Sandbox(timing=Timing(image_queued=1.0, image_processing=2.0), clock=clock) as sandbox:
        created = api(sandbox, "POST", "/generations",
                      json={"model": "grok-imagine", "prompt": "hi", "client_request_id": "c-1"})
        assert created.status_code == 201
        task = created.json()
        assert task["status"] == "queued" and task["result"] is None and task["error"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", task["created_at"])
        seen = []
        for step in (0.5, 1.0, 2.0):
            clock.advance(step)
            seen.append((body := api(sandbox, "GET", f"/generations/{task['id']}").json())["status"])
        assert seen == ["queued", "processing", "succeeded"]
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


# -- the sandbox's own contract --------------------------------------------------------------


def test_the_sandbox_does_not_use_the_clients_catalog() -> None:
    """It checks requests against its own fixture, so it can disagree with the client."""
    for source in (ROOT / "rivya" / "sandbox").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "catalog" not in (node.module or ""), source.name
                assert all("catalog" not in alias.name for alias in node.names), source.name
            elif isinstance(node, ast.Import):
                assert all("catalog" not in alias.name for alias in node.names), source.name


def test_the_sandbox_follows_its_fixture_not_the_catalog(tmp_path: Path) -> None:
    raw = json.loads((ROOT / "rivya" / "sandbox" / "contract.json").read_text())
    video = next(m for m in raw["models"] if m["id"] == "grok-imagine-video")
    video["max_prompt_length"] = 10
    next(p for p in video["params"] if p["key"] == "duration")["max"] = 8
    (tmp_path / "contract.json").write_text(json.dumps(raw))
    with Sandbox(contract=load_contract(tmp_path / "contract.json")) as other:
        assert validate("grok-imagine-video", "eleven char", {"duration": 9}) == []  # the client's catalog is fine with it
        reply = api(other, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": "eleven char"})
        assert reply.status_code == 400 and "11 characters" in reply.json()["error"]["message"]
        body = {"model": "grok-imagine-video", "prompt": "short", "params": {"duration": 9}}
        reply = api(other, "POST", "/generations", json=body)
        assert reply.status_code == 400 and "duration" in reply.json()["error"]["message"]
        body["params"]["duration"] = 8
        assert api(other, "POST", "/generations", json=body).status_code == 201


def test_documented_params_are_checked_and_unknown_ones_ignored(sandbox: Sandbox) -> None:
    def create(params: dict, prompt: str = "a fox") -> requests.Response:
        return api(sandbox, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": prompt, "params": params})

    # v1 may add optional params: a key the docs do not list is accepted (and kept on the task)...
    reply = create({"colour": "red", "duration": 12.0})
    assert reply.status_code == 201
    assert sandbox.state.tasks[reply.json()["id"]].params == {"colour": "red", "duration": 12.0}
    # ...while documented keys are checked: every problem in one message.
    reply = create({"colour": "red", "aspect_ratio": "4:3", "duration": 6.5, "mode": True})
    message = reply.json()["error"]["message"]
    assert reply.status_code == 400 and "colour" not in message
    assert all(key in message for key in ("aspect_ratio", "duration", "mode"))
    # Prompt length counts code points: 5000 emoji fit, 5001 do not.
    assert create({}, "🦊" * 5000).status_code == 201
    assert "5001 characters" in create({}, "🦊" * 5001).json()["error"]["message"]
    # NaN is not JSON, wherever it hides.
    reply = api(
        sandbox,
        "POST",
        "/generations",
        data=b'{"model": "grok-imagine", "prompt": "x", "params": {"colour": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]


def test_uploads_are_sniffed_and_references_must_fit_the_model(sandbox: Sandbox) -> None:
    mp4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64
    reply = api(sandbox, "POST", "/files", files={"file": ("clip.png", mp4)}, data={"kind": "image"})
    assert reply.status_code == 400 and "looks like video/mp4" in reply.json()["error"]["message"]
    clip = api(sandbox, "POST", "/files", files={"file": ("clip.mp4", mp4)}, data={"kind": "video"})
    assert clip.status_code == 201 and clip.json()["mime_type"] == "video/mp4"
    item = {"url": clip.json()["url"], "kind": "image"}
    reply = api(
        sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "x", "params": {"referenceMediaItems": [item]}}
    )
    assert reply.status_code == 400 and "uploaded video file" in reply.json()["error"]["message"]


# -- one account per key ---------------------------------------------------------------------

OTHER_KEY = "rvya_sk_other_account_5c2e"


def test_each_key_is_its_own_account(sandbox: Sandbox) -> None:
    sandbox.add_key(OTHER_KEY, credits=50)
    mine = api(sandbox, "POST", "/generations", json={"model": "grok-imagine", "prompt": "mine"}).json()
    assert api(sandbox, "GET", f"/generations/{mine['id']}").status_code == 200
    reply = api(sandbox, "GET", f"/generations/{mine['id']}", key=OTHER_KEY)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"

    theirs = api(sandbox, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": "theirs"}, key=OTHER_KEY)
    assert theirs.status_code == 201
    assert api(sandbox, "GET", "/credits").json() == {"current_credits": 996}
    assert api(sandbox, "GET", "/credits", key=OTHER_KEY).json() == {"current_credits": 40}
    assert (sandbox.balance(), sandbox.balance(OTHER_KEY)) == (996, 40)
    sandbox.set_credits(5, key=OTHER_KEY)
    broke = api(sandbox, "POST", "/generations", json={"model": "grok-imagine-video", "prompt": "again"}, key=OTHER_KEY)
    assert broke.json()["error"]["code"] == "insufficient_credits"
    assert sandbox.balance() == 996  # the other wallet being empty is not this one's business

    # Files belong to their uploader: another key can neither read nor reference them.
    upload = api(sandbox, "POST", "/files", files={"file": ("a.png", image_bytes())}, data={"kind": "image"}).json()
    assert api(sandbox, "GET", f"/files/{upload['id']}").status_code == 200
    assert api(sandbox, "GET", f"/files/{upload['id']}", key=OTHER_KEY).status_code == 404
    sandbox.set_credits(100, key=OTHER_KEY)
    ref = {"model": "grok-imagine", "prompt": "x", "params": {"referenceMediaItems": [{"url": upload["url"], "kind": "image"}]}}
    reply = api(sandbox, "POST", "/generations", json=ref, key=OTHER_KEY)
    assert reply.status_code == 400 and "not a file uploaded" in reply.json()["error"]["message"]
    assert api(sandbox, "POST", "/generations", json=ref).status_code == 201

    # Result URLs stay public: fetchable with no key at all.
    done = finish(sandbox, mine["id"])
    assert requests.get(done["result"]["primary_url"], timeout=10).status_code == 200


# -- a create still in flight ----------------------------------------------------------------


def test_a_create_in_flight_answers_409_then_replays() -> None:
    clock = ManualClock()  # the in-flight window ends when the test moves the sandbox's clock, whatever the load
    with Sandbox(clock=clock) as sandbox:
        sandbox.hold_next_creates(1, seconds=1.5)
        body = {"model": "grok-imagine", "prompt": "held"}
        headers = {"Idempotency-Key": "held-1"}
        with pytest.raises(requests.ConnectionError):
            api(sandbox, "POST", "/generations", json=body, headers=dict(headers))
        (task_id,) = sandbox.state.tasks  # made and charged, though nobody heard back
        assert sandbox.balance() == 996

        clock.advance(1.4)
        busy = api(sandbox, "POST", "/generations", json=body, headers=dict(headers))
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_conflict"
        assert "still being processed" in busy.json()["error"]["message"]
        other = api(sandbox, "POST", "/generations", json={**body, "prompt": "not held"}, headers=dict(headers))
        assert other.status_code == 409 and "different request body" in other.json()["error"]["message"]

        clock.advance(0.2)
        replay = api(sandbox, "POST", "/generations", json=body, headers=dict(headers))
        assert replay.status_code == 200 and replay.json()["id"] == task_id
        other = api(sandbox, "POST", "/generations", json={**body, "prompt": "not held"}, headers=dict(headers))
        assert other.status_code == 409  # a used key with another body: always a conflict
        creates = [e for e in sandbox.journal if e.path == "/api/v1/generations"]
        assert [e.status for e in creates] == [0, 409, 409, 200, 409]
        assert list(sandbox.state.tasks) == [task_id] and sandbox.balance() == 996


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


def test_cli_in_flight_knob() -> None:
    port = free_port()
    cli = [sys.executable, "-m", "rivya.sandbox", "--port", str(port), "--lost-create-rate", "1", "--in-flight-seconds", "30"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert "Rivya sandbox on" in proc.stdout.readline()
        post = {
            "url": f"http://127.0.0.1:{port}/api/v1/generations",
            "json": {"model": "grok-imagine", "prompt": "x"},
            "headers": {"Authorization": "Bearer rvya_sk_sandbox_local", "Idempotency-Key": "cli-1"},
            "timeout": 10,
        }
        with pytest.raises(requests.ConnectionError):
            requests.post(**post)
        assert requests.post(**post).json()["error"]["code"] == "idempotency_conflict"
    finally:
        proc.terminate()
        proc.wait(10)
