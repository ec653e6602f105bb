"""RFC 6455 WebSocket framing, server side, for the local stack's Realtime endpoint (``devstack.realtime``).

What it does: the opening handshake's checks and ``Sec-WebSocket-Accept`` (RFC 6455 section 4.2), reading client
frames (masked, possibly fragmented, control frames interleaved: section 5), writing unmasked server frames, and
the close frame's payload (section 5.5.1, codes of section 7.4). No extension is negotiated (so no
permessage-deflate: Appwrite's Swoole server compresses when the client offers it, a client copes either way) and
no subprotocol. A protocol violation raises ``ProtocolError`` with the close code the endpoint must send.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
DATA_OPCODES = (OP_TEXT, OP_BINARY)

# Close codes (RFC 6455 section 7.4.1) this stack sends.
NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED_DATA = 1000, 1001, 1002, 1003
INVALID_PAYLOAD, POLICY_VIOLATION, MESSAGE_TOO_BIG, INTERNAL_ERROR, TRY_AGAIN_LATER = 1007, 1008, 1009, 1011, 1013
# Codes a peer may put in a close frame (1004-1006 and 1015 are reserved and never sent on the wire).
MAX_SKIP = 16 * 1024 * 1024  # an oversize frame up to this is read and dropped, keeping the stream readable
_VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


class ProtocolError(Exception):
    """The peer broke RFC 6455: close the connection with ``code``."""

    def __init__(self, code: int, reason: str, in_sync: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.in_sync = in_sync  # the offending frame was skipped whole: the next frame can still be read


def handshake_problem(method: str, headers: dict[str, str]) -> str | None:
    """Why an upgrade request is not a valid RFC 6455 opening handshake (section 4.2.1), or None. ``headers`` are
    lower-cased names."""
    if method != "GET":
        return "The WebSocket handshake must be a GET request."
    if "upgrade" not in _tokens(headers.get("connection", "")):
        return "Missing `Connection: Upgrade`."
    if headers.get("sec-websocket-version", "").strip() != "13":
        return "Only WebSocket version 13 is supported."
    if not valid_key(headers.get("sec-websocket-key", "")):
        return "Missing or invalid Sec-WebSocket-Key."
    return None


def is_upgrade(headers: dict[str, str]) -> bool:
    return "websocket" in _tokens(headers.get("upgrade", ""))


def _tokens(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


def valid_key(key: str) -> bool:
    """A base64-encoded 16-byte nonce (section 4.1)."""
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept``: base64 of SHA-1 of the key and the protocol's GUID (section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()).decode("ascii")


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final, unmasked frame (a server never masks: section 5.1)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's body: the code, then a UTF-8 reason cut to fit the 125-byte control frame."""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """(code, reason) of a received close frame; raises ProtocolError when the body is malformed."""
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "A close frame body of one byte.")
    (code,) = struct.unpack("!H", payload[:2])
    if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
        raise ProtocolError(PROTOCOL_ERROR, f"Invalid close code {code}.")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(INVALID_PAYLOAD, "The close reason is not UTF-8.") from None
    return code, reason


class FrameReader:
    """Reads whole messages from a client: ``next()`` answers (opcode, payload) for each control frame as it comes
    and for each complete text or binary message (fragments joined). ``read_exact(n)`` returns n bytes or fewer at
    the end of the stream."""

    def __init__(self, read_exact: Callable[[int], bytes], max_message: int) -> None:
        self._read = read_exact
        self.max_message = max_message
        self._opcode: int | None = None  # the data message being assembled, if fragmented
        self._parts: list[bytes] = []
        self._size = 0

    def _exact(self, count: int) -> bytes:
        data = self._read(count) if count else b""
        if len(data) < count:
            raise EOFError("the peer closed the connection")
        return data

    def next(self) -> tuple[int, bytes]:
        while True:
            fin, opcode, payload = self._frame()
            if opcode in CONTROL_OPCODES:
                return opcode, payload
            if opcode == OP_CONTINUATION:
                if self._opcode is None:
                    raise ProtocolError(PROTOCOL_ERROR, "A continuation frame with no message to continue.")
            elif self._opcode is not None:
                raise ProtocolError(PROTOCOL_ERROR, "A new message began before the last one ended.")
            else:
                self._opcode = opcode
            self._size += len(payload)
            if self._size > self.max_message:
                raise ProtocolError(MESSAGE_TOO_BIG, f"Messages are limited to {self.max_message} bytes.")
            self._parts.append(payload)
            if fin:
                message_opcode, data = self._opcode, b"".join(self._parts)
                self._opcode, self._parts, self._size = None, [], 0
                if message_opcode == OP_TEXT:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolError(INVALID_PAYLOAD, "A text message that is not UTF-8.") from None
                return message_opcode, data

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._exact(2)
        fin, opcode = bool(first & 0x80), first & 0x0F
        if first & 0x70:
            raise ProtocolError(PROTOCOL_ERROR, "Reserved bits set without a negotiated extension.")
        if opcode not in CONTROL_OPCODES and opcode not in DATA_OPCODES and opcode != OP_CONTINUATION:
            raise ProtocolError(PROTOCOL_ERROR, f"Unknown opcode {opcode:#x}.")
        if not second & 0x80:
            raise ProtocolError(PROTOCOL_ERROR, "Client frames must be masked.")
        size = second & 0x7F
        if opcode in CONTROL_OPCODES and (size > 125 or not fin):
            raise ProtocolError(PROTOCOL_ERROR, "Control frames are final and at most 125 bytes.")
        if size == 126:
            (size,) = struct.unpack("!H", self._exact(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._exact(8))
            if size >> 63:
                raise ProtocolError(PROTOCOL_ERROR, "Frame length with the most significant bit set.")
        if self._size + size > self.max_message:
            # Skip a frame of sane size whole, so the peer's answering close frame can still be read.
            skip = size + 4 if size <= MAX_SKIP else 0
            while skip:
                skip -= len(self._exact(min(skip, 65536)))
            self._opcode, self._parts, self._size = None, [], 0
            raise ProtocolError(MESSAGE_TOO_BIG, f"Messages are limited to {self.max_message} bytes.",
                                in_sync=size <= MAX_SKIP)
        mask = self._exact(4)
        payload = self._exact(size)
        return fin, opcode, _unmask(payload, mask)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    repeated = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")
