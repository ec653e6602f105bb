"""A local stand-in for an OpenAI-compatible chat API, on loopback: it records each request and answers from a
script, so the bot's model mode is tested with no network. It can also answer as Gemini's `generateContent` does
(`generation`), for the Node system the story bench compares with (bench/story.py), whose bot calls Gemini."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, Any]  # (status, JSON body; bytes are sent as they are)


def completion(content: str) -> Answer:
    """What the API answers for one reply (the fields the bot reads, plus the usual ones)."""
    return 200, {"id": "chatcmpl-local", "object": "chat.completion", "model": "stand-in",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}]}


def generation(content: str) -> Answer:
    """What Gemini's `POST /v1beta/models/{model}:generateContent` answers for one reply (the fields
    @google/generative-ai reads: candidates[0].content.parts[].text, usageMetadata)."""
    return 200, {"candidates": [{"index": 0, "finishReason": "STOP",
                                 "content": {"role": "model", "parts": [{"text": content}]}}],
                 "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                 "modelVersion": "stand-in"}


class ChatApiStandIn:
    """`with ChatApiStandIn() as api:` then point BOT_LLM_ENDPOINT at `api.endpoint`; `api.answers` is the script
    (one answer, or a callable of the request body, per call; the last one repeats); `api.requests` what came in."""

    def __init__(self, *answers: Answer | Callable[[dict], Answer], port: int = 0) -> None:
        self.answers = list(answers) or [completion("Hello from the model.")]
        self.requests: list[dict[str, Any]] = []
        self._hold = threading.Event()
        self._hold.set()
        self._arrived = threading.Condition()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                standin.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": parsed})
                with standin._arrived:
                    standin._arrived.notify_all()
                standin._hold.wait(30)
                script = standin.answers[min(len(standin.requests), len(standin.answers)) - 1]
                status, payload = script(parsed) if callable(script) else script
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def hold(self) -> None:
        """Keep the next answers waiting (a slow model) until `release`."""
        self._hold.clear()

    def wait_for_requests(self, count: int, timeout: float = 20) -> bool:
        """True once `count` requests have arrived (a held one included)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def release(self) -> None:
        self._hold.set()

    def __enter__(self) -> ChatApiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hold.set()
        self._server.shutdown()
        self._server.server_close()
