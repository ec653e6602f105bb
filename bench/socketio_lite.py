"""The little of a Socket.IO client the story bench needs to play a visitor or an agent of the Node system: Engine.IO
v4 over a WebSocket only (no long-polling), the default namespace, events without acknowledgements.

The protocol (socket.io-protocol v5 on engine.io-protocol v4): the server opens with `0{...}`, the client joins the
namespace with `40`, the server answers `40{"sid":...}`; an event is `42["name", data]` both ways; the server pings
with `2` and the client answers `3`. Uses the `websockets` package the project already has (no python-socketio).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


class Client:
    """`Client(url)` connects; every event the server sends is kept in `events` as (name, data, perf_counter at
    arrival); `mark()` then `wait(name, mark)` waits for the first such event after the mark; `emit(name, data)`."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.events: list[tuple[str, Any, float]] = []
        self._arrived = threading.Condition()
        self._joined = threading.Event()
        self._socket = connect(f"{base}/socket.io/?EIO=4&transport=websocket", open_timeout=timeout).__enter__()
        opening = self._socket.recv(timeout)
        if not str(opening).startswith("0"):
            raise ConnectionError(f"not an Engine.IO opening: {opening!r}")
        self._send("40")
        self._reader = threading.Thread(target=self._read, daemon=True, name="socketio-lite")
        self._reader.start()
        if not self._joined.wait(timeout):
            raise ConnectionError("the namespace was not joined")

    def mark(self) -> int:
        with self._arrived:
            return len(self.events)

    def wait(self, name: str, mark: int, timeout: float = 30.0) -> float:
        """The arrival time (perf_counter) of the first `name` event after `mark`; TimeoutError if none comes."""
        def found() -> float | None:
            return next((at for event, _, at in self.events[mark:] if event == name), None)
        with self._arrived:
            if not self._arrived.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"the Node system sent no {name!r} in {timeout:g} s")
            return found()  # type: ignore[return-value]

    def emit(self, event: str, data: Any) -> None:
        self._send("42" + json.dumps([event, data]))

    def close(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            self._send("41")
        self._socket.close()
        self._reader.join(5)

    def _send(self, packet: str) -> None:
        self._socket.send(packet)

    def _read(self) -> None:
        try:
            for packet in self._socket:
                text = packet if isinstance(packet, str) else packet.decode()
                if text == "2":
                    self._send("3")
                elif text.startswith("40"):
                    self._joined.set()
                elif text.startswith("42"):
                    at = time.perf_counter()
                    name, *args = json.loads(text[2:])
                    with self._arrived:
                        self.events.append((name, args[0] if args else None, at))
                        self._arrived.notify_all()
        except ConnectionClosed:
            pass

