"""The LLM judge (GPTScore): an OpenAI-compatible endpoint, asked in parallel with bounded timeouts and
retries; answers cached; without its key the stage says why it did not run and is planned again once
the key is set."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slamming.workflow.config import with_defaults
from slamming.evaluation.judge import Judge, rate_all, rating_of
from workflow_scripts import judge_generations


class Endpoint:
    """A local chat-completions endpoint: it answers with a rating, after ``delay`` seconds, or not at all
    while ``down``; it counts requests and how many were in flight at once."""

    def __init__(self, delay: float = 0.0):
        self.delay, self.down, self.requests, self.in_flight, self.most_in_flight, self.seen = delay, False, 0, 0, 0, []
        lock = threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                with lock:
                    endpoint.requests += 1
                    endpoint.in_flight += 1
                    endpoint.most_in_flight = max(endpoint.most_in_flight, endpoint.in_flight)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.seen.append((self.headers["Authorization"], body))
                try:
                    if endpoint.down:
                        time.sleep(2.0)  # never answers in time
                        return
                    time.sleep(endpoint.delay)
                    answer = {"choices": [{"message": {"content": "It fits well. The final answer is $\\boxed{4}$"}}]}
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps(answer).encode())
                finally:
                    with lock:
                        endpoint.in_flight -= 1

            def log_message(self, *args):
                """Quiet: no request lines on the test's output."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


def test_the_judge_talks_to_an_openai_compatible_endpoint_and_never_logs_its_key(tmp_path, caplog):
    endpoint = Endpoint()
    caplog.set_level(logging.DEBUG)
    judge = Judge.from_config(with_defaults("run.evaluation.judge", {"base_url": endpoint.url, "model": "judge-1"}), key="sk-secret-123")
    ratings, report = rate_all(judge, [("Tom went to the barn.", "Then he fed the hens.")], tmp_path / "answers.jsonl")
    assert ratings == [4] and report["rated"] == 1
    authorization, body = endpoint.seen[0]
    assert authorization == "Bearer sk-secret-123" and body["model"] == "judge-1"
    assert "Tom went to the barn." in body["messages"][0]["content"]
    assert "sk-secret-123" not in caplog.text and "sk-secret-123" not in (tmp_path / "answers.jsonl").read_text()


def test_ratings_are_read_from_the_end_of_an_answer():
    assert rating_of("It fits. The final answer is $\\boxed{5}$") == 5
    assert rating_of("I would say 3") == 3 and rating_of("no idea") is None and rating_of("$\\boxed{9}$") is None


def test_requests_go_out_in_parallel_and_are_cached(tmp_path):
    endpoint = Endpoint(delay=0.3)
    judge = Judge.from_config(with_defaults("run.evaluation.judge", {"base_url": endpoint.url, "model": "m", "parallel_requests": 8}), key="k")
    items = [(f"prompt {i}", f"continuation {i}") for i in range(16)]
    started = time.perf_counter()
    ratings, report = rate_all(judge, items, tmp_path / "answers.jsonl")
    assert ratings == [4] * 16 and endpoint.most_in_flight >= 4
    assert time.perf_counter() - started < 16 * 0.3 / 2  # far less than one after another
    again, report = rate_all(judge, items, tmp_path / "answers.jsonl")
    assert again == ratings and report["from_cache"] == 16 and endpoint.requests == 16  # nothing asked twice


def write_transcripts(path, n):
    rows = [{"id": f"s{i}.{part}", "text": f" {part} {i}"} for i in range(n) for part in ("prompt", "continuation", "full")]
    pq.write_table(pa.Table.from_pylist(rows), path)


def run_judge(tmp_path, settings):
    return judge_generations.main(["--transcripts", str(tmp_path / "transcripts.parquet"), "--settings", json.dumps(settings),
                                   "--cache", str(tmp_path / "judge.work"), "--out-table", str(tmp_path / "judge.parquet"),
                                   "--out-json", str(tmp_path / "judge.json")])


def test_an_endpoint_that_never_answers_fails_the_job_with_a_summary_and_a_rerun_asks_only_the_rest(tmp_path, monkeypatch):
    write_transcripts(tmp_path / "transcripts.parquet", 6)
    endpoint = Endpoint()
    monkeypatch.setenv("JUDGE_KEY", "k")
    settings = {"base_url": endpoint.url, "model": "m", "api_key_env": "JUDGE_KEY", "timeout_seconds": 0.3, "retries": 1}
    judge = Judge.from_config(with_defaults("run.evaluation.judge", settings), "k")
    rate_all(judge, [(" prompt 0".strip(), " continuation 0".strip())], tmp_path / "judge.work" / "answers.jsonl")
    endpoint.down, asked = True, endpoint.requests
    started = time.perf_counter()
    with pytest.raises(Exception, match=r"answered 1 of 6 requests \(5 x timeout\); run the same command again"):
        run_judge(tmp_path, settings)
    assert time.perf_counter() - started < 10  # bounded: timeouts and retries, in parallel
    assert endpoint.requests - asked == 5 * 2  # each unanswered request tried twice (one retry)
    endpoint.down, asked = False, endpoint.requests
    assert run_judge(tmp_path, settings) == 0
    assert endpoint.requests - asked == 5  # only what had no answer
    assert json.loads((tmp_path / "judge.json").read_text())["gpt_score"] == 4.0


def test_without_its_key_the_judge_says_why_it_did_not_run(tmp_path, monkeypatch):
    write_transcripts(tmp_path / "transcripts.parquet", 2)
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    assert run_judge(tmp_path, {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "NO_SUCH_KEY"}) == 0
    summary = json.loads((tmp_path / "judge.json").read_text())
    assert summary["gpt_score"] is None and "NO_SUCH_KEY" in summary["not_run"]
