"""bench.socketio_lite against a scripted Engine.IO v4 / Socket.IO v5 server (websockets' own server): the opening,
joining the namespace, answering pings, events both ways with their arrival times. The bench plays the Node
system's visitor and agent with it (bench/story_node.py)."""

from __future__ import annotations

import contextlib
import json
import threading

from websockets.sync.server import serve

from bench.socketio_lite import Client


def test_the_client_joins_answers_pings_and_sees_events_in_order():
    heard: list[str] = []

    def session(socket) -> None:
        socket.send('0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
        heard.append(socket.recv())  # "40": join the default namespace
        socket.send('40{"sid":"s1"}')
        socket.send("2")
        packets = [socket.recv(), socket.recv()]  # the pong and the client's event, in either order
        heard.append(min(packets, key=len))
        event = json.loads(max(packets, key=len)[2:])
        heard.append(event[0])
        socket.send("42" + json.dumps(["session_started", {"sessionId": event[1]["sessionId"]}]))
        socket.send("42" + json.dumps(["bot_message", {"text": "Hello"}]))
        with contextlib.suppress(Exception):  # the client may close first
            socket.recv(timeout=5)  # the client's "41" as it leaves

    with serve(session, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = Client(f"http://127.0.0.1:{port}")
        mark = client.mark()
        client.emit("start_session", {"sessionId": "s_1"})
        started = client.wait("session_started", mark)
        answered = client.wait("bot_message", mark)
        client.close()
        server.shutdown()
    assert heard == ["40", "3", "start_session"]
    assert [name for name, _, _ in client.events] == ["session_started", "bot_message"]
    assert client.events[0][1] == {"sessionId": "s_1"} and started <= answered
