"""The HTTP endpoint (``tools/serve.py``): micro-batching, answers equal to the predictor's, error answers,
a worker that survives failures, and the real server process on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.serving.helpers import exported

paddle = pytest.importorskip("paddle")

# requirements-dev.txt installs the optional server packages: their absence is a failure, not a skip.
from fastapi.testclient import TestClient  # noqa: E402

from ernie.errors import ErnieError  # noqa: E402
from ernie.serving import Example, Predictor, ServingError  # noqa: E402
from ernie.serving.batcher import MicroBatcher  # noqa: E402
from ernie.serving.http_app import Limits, create_app  # noqa: E402
from ernie.serving.serve_cli import main as serve_main  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXTS = ["the film was great !", "a bad movie", "john smith lives in paris", "not good", "who is mary ?"]
LIMITS = Limits(max_body_bytes=4096, max_examples=8, max_batch=32, max_wait_ms=5.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "inference-shared")


@pytest.fixture(scope="module")
def predictor(root) -> Predictor:
    prefix, _, _ = exported(root, "cls")
    return Predictor(prefix, threads=1)


def serve(predictor: Predictor, **limits) -> TestClient:
    """A client of a fresh app; use it in ``with`` (its micro-batcher stops at the end)."""
    return TestClient(create_app(predictor, Limits(**{**LIMITS.__dict__, **limits})))


def direct(predictor: Predictor, objects: list[dict]) -> list[dict]:
    """What the predictor answers for these example objects, called directly."""
    return predictor.predict(
        [
            Example(line=i, text_a=o["text_a"], text_b=o.get("text_b"), id=o.get("id"))
            for i, o in enumerate(objects)
        ]
    )


# ============================================================================================ the batcher
def test_batcher_gathers_waiting_requests_up_to_max_batch_in_order():
    sizes = []

    def predict(examples):
        sizes.append(len(examples))
        return [x * 10 for x in examples]

    batcher = MicroBatcher(predict, max_batch=5, max_wait=0.2)
    try:
        futures = [batcher.submit([k, k + 1]) for k in range(0, 10, 2)] + [batcher.submit(list(range(7)))]
        results = [f.result(timeout=10) for f in futures]
    finally:
        batcher.close()
    # Two requests of 2 fill a batch of 5 (a third would not fit and starts the next); 7 > 5 runs alone.
    assert sizes == [4, 4, 2, 7]
    assert results == [[0, 10], [20, 30], [40, 50], [60, 70], [80, 90], [x * 10 for x in range(7)]]
    assert (batcher.stats.batches, batcher.stats.requests, batcher.stats.examples) == (4, 6, 17)
    assert not batcher.alive


def test_batcher_fails_only_the_request_at_fault_and_keeps_serving():
    def predict(examples):
        if "boom" in examples:
            raise RuntimeError("boom in the model")
        if "bad" in examples:
            raise ServingError("bad input")
        return [x.upper() for x in examples]

    batcher = MicroBatcher(predict, max_batch=8, max_wait=0.2)
    try:
        futures = [batcher.submit(["a"]), batcher.submit(["boom", "b"]), batcher.submit(["c", "bad"])]
        futures.append(batcher.submit(["d"]))
        assert futures[0].result(timeout=10) == ["A"]
        with pytest.raises(RuntimeError, match="boom in the model"):
            futures[1].result(timeout=10)
        with pytest.raises(ServingError, match="bad input"):
            futures[2].result(timeout=10)
        assert futures[3].result(timeout=10) == ["D"]
        assert batcher.alive and batcher.submit(["e"]).result(timeout=10) == ["E"]
        assert (batcher.stats.requests, batcher.stats.failed) == (5, 2)
    finally:
        batcher.close()
    with pytest.raises(ServingError, match="shutting down"):
        batcher.submit(["f"])


# ============================================================================================ answers
def test_one_object_and_a_list_answer_what_the_predictor_answers(predictor):
    objects = [
        {"text_a": TEXTS[0], "id": "x1"},
        {"text_a": TEXTS[1], "text_b": TEXTS[2]},
        {"text_a": TEXTS[3]},
    ]
    expected = direct(predictor, objects)
    with serve(predictor) as client:
        single = client.post("/predict", json=objects[0])
        several = client.post("/predict", json=objects)
    assert single.status_code == 200 and single.json() == direct(predictor, objects[:1])[0]
    assert set(single.json()) == {"id", "label", "probs"}
    assert several.status_code == 200 and several.json() == expected


def test_question_answering_takes_question_and_context(root):
    prefix, _, _ = exported(root, "qa")
    qa = Predictor(prefix, threads=1)
    obj = {
        "question": "who lives in paris ?",
        "context": "john smith lives in paris . mary works in london .",
    }
    expected = qa.predict([Example(line=1, question=obj["question"], context=obj["context"])])[0]
    with serve(qa) as client:
        answer = client.post("/predict", json=obj)
        missing = client.post("/predict", json={"text_a": "no question"})
    assert answer.status_code == 200 and answer.json() == expected and set(expected) == {"answer"}
    assert missing.status_code == 400 and missing.json() == {"error": "request body: missing key 'question'"}


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(predictor):
    objects = [{"text_a": f"{TEXTS[k % 5]} {'good ' * (k % 3)}", "id": k} for k in range(16)]
    expected = direct(predictor, objects)
    answers: dict = {}
    start = threading.Barrier(len(objects))

    def post(client, obj):
        start.wait()
        answers[obj["id"]] = client.post("/predict", json=obj)

    with serve(predictor, max_wait_ms=50.0) as client:
        threads = [threading.Thread(target=post, args=(client, obj)) for obj in objects]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        stats = client.app.state.batcher.stats
    assert [answers[k].status_code for k in range(16)] == [200] * 16
    for k, want in enumerate(expected):
        got = answers[k].json()
        # Batched with others, an example is padded to another width: equal up to float noise.
        assert got["id"] == k and got["label"] == want["label"]
        assert got["probs"] == pytest.approx(want["probs"], abs=1e-5)
    assert stats.requests == 16 and stats.batches < 16, stats
    print(f"16 concurrent requests -> {stats.batches} batches (largest {stats.largest})")


# ============================================================================================ errors
@pytest.mark.parametrize(
    "body, status, message",
    [
        (
            b'{"text_a": "ok",}',
            400,
            "request body: invalid JSON (Expecting property name enclosed in double quotes",
        ),
        (b'{"text_a": "caf\xe9"}', 400, "request body: not UTF-8 text"),
        (b'"just a string"', 400, "request body: expected an example object or a list of them, got str"),
        (b"[]", 400, "request body: an empty list, no examples"),
        (b'[{"text_a": "ok"}, 5]', 400, "request body: example 2: expected a JSON object, got int"),
        (b'{"sentence": "x"}', 400, "request body: missing key 'text_a'"),
        (b'[{"text_a": "ok"}, {"text": "x"}]', 400, "request body: example 2: missing key 'text_a'"),
        (b'{"text_a": 3}', 400, "request body: key 'text_a' must be a string, got int"),
        (b'{"text_a": "\\ud800"}', 400, "request body: a lone surrogate escape"),
        (json.dumps([{"text_a": "a"}] * 9).encode(), 413, "request body: 9 examples, at most 8 per request"),
        (
            json.dumps({"text_a": "a" * 5000}).encode(),
            413,
            "request body: over 4096 bytes (--max_body_bytes)",
        ),
    ],
)
def test_bad_requests_are_answered_with_a_message(predictor, body, status, message):
    with serve(predictor) as client:
        response = client.post("/predict", content=body)
        after = client.post("/predict", json={"text_a": TEXTS[0]})
    assert response.status_code == status
    assert response.json()["error"].startswith(message), response.json()
    assert after.status_code == 200


def test_a_chunked_body_over_the_limit_is_refused(predictor):
    def chunks():
        yield b'{"text_a": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    with serve(predictor) as client:
        response = client.post("/predict", content=chunks())
    assert response.status_code == 413 and "over 4096 bytes" in response.json()["error"]


def test_json_past_the_interpreters_limits_is_a_400_not_a_500(predictor):
    # json.loads raises RecursionError and ValueError (not JSONDecodeError) for these; they were answered
    # 500 "prediction failed", and an id that parsed but was too deep to write back a plain-text 500.
    cases = [
        (b"[" * 3000, "request body: invalid JSON (nested too deeply)"),
        (
            b'{"text_a": "ok", "id": ' + b"1" * 5000 + b"}",
            "request body: invalid JSON (Exceeds the limit (4300 digits) for integer string conversion: "
            "value has 5000 digits)",
        ),
        (
            b'{"text_a": "ok", "id": ' + b"[" * 700 + b"]" * 700 + b"}",
            "request body: key 'id' is nested too deeply",
        ),
    ]
    with serve(predictor, max_body_bytes=1 << 16) as client:
        for body, message in cases:
            response = client.post("/predict", content=body)
            assert (response.status_code, response.json()) == (400, {"error": message})
        assert client.post("/predict", json={"text_a": "ok", "id": [[["shallow"]]]}).status_code == 200


def test_unknown_routes_and_methods_answer_json_errors(predictor):
    with serve(predictor) as client:
        assert client.get("/nowhere").status_code == 404 and "error" in client.get("/nowhere").json()
        assert client.get("/predict").status_code == 405 and "error" in client.get("/predict").json()


def test_a_failing_batch_fails_its_request_and_the_next_one_succeeds(predictor, monkeypatch):
    failures = [RuntimeError("the program crashed"), ErnieError("text the model cannot take")]

    def predict_or_fail(examples):
        if failures:
            raise failures.pop(0)
        return predictor.predict(examples)

    obj = {"text_a": TEXTS[0]}
    with serve(predictor) as client:
        monkeypatch.setattr(client.app.state.batcher, "predict", predict_or_fail)
        crashed = client.post("/predict", json=obj)
        refused = client.post("/predict", json=obj)
        fine = client.post("/predict", json=obj)
        health = client.get("/health")
    assert crashed.status_code == 500
    assert crashed.json() == {"error": "prediction failed: RuntimeError: the program crashed"}
    assert refused.status_code == 400 and refused.json() == {"error": "text the model cannot take"}
    assert fine.status_code == 200 and fine.json() == direct(predictor, [obj])[0]
    assert health.json()["batching"]["failed"] == 2


def test_health_names_the_model_and_its_head(predictor):
    with serve(predictor) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["model"], body["head"]) == (
        "ok",
        predictor.prefix,
        "sequence_classification",
    )


# ============================================================================================ the CLI
def run_serve(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        serve_main(argv)
    return exit_info.value.code, capsys.readouterr().err


def test_without_fastapi_and_uvicorn_the_cli_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    code, err = run_serve(["--model", "nowhere", "--port", "8000"], capsys)
    assert code == 2
    assert err.strip() == (
        "error: serving needs the optional packages fastapi and uvicorn (uvicorn is missing): "
        "pip install fastapi uvicorn"
    )


def test_bad_server_flags_exit_2_before_the_model_loads(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_serve(["--model", "nowhere", "--port", str(port)], capsys)
        assert code == 2 and err.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there")
    for flags, message in [
        (["--port", "0"], "error: --port: expected 1..65535, got 0"),
        (["--port", "8000", "--max_batch", "0"], "error: --max_batch: must be a positive integer, got 0"),
        (["--port", "8000", "--max_wait_ms", "-1"], "error: --max_wait_ms: must be >= 0, got -1.0"),
    ]:
        code, err = run_serve(["--model", "nowhere", *flags], capsys)
        assert (code, err.strip()) == (2, message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tools_serve_answers_over_a_real_socket(predictor):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, os.path.join(REPO, "tools", "serve.py"), "--model", predictor.prefix]
    command += ["--port", str(port), "--threads", "1", "--quiet"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the server did not come up"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        assert health["status"] == "ok" and health["head"] == "sequence_classification"
        obj = {"text_a": TEXTS[1], "id": 1}
        request = urllib.request.Request(f"{url}/predict", data=json.dumps(obj).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and response.headers["content-type"] == "application/json"
            assert json.loads(response.read()) == direct(predictor, [obj])[0]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it so that the exit status says so.
    assert process.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err[-3000:]
