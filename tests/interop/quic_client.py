#!/usr/bin/env python3
"""Interop check of Arbiter's QUIC transport with an independent QUIC stack
(aioquic): handshake on the first bidirectional stream (4-byte big-endian
length prefix), join an `arena` room, move with a QUIC datagram, and see the
move come back in a `state.patch` on the stream.

Usage:
    python3 tests/interop/quic_client.py --port 4434 --cert-sha256 HEX \
        [--host 127.0.0.1] [--room interop-1] [--hold]

The server certificate is pinned: its DER's SHA-256 must equal --cert-sha256
(what `handshake.ok` announces as `quic.cert_sha256`). With --hold the script
prints `moved SESSION_ID` and keeps the session open until a line (or EOF)
arrives on stdin, so a test can look at the room meanwhile. Exit 0 and
`interop ok` on success; anything else is a failure.
"""

import argparse
import asyncio
import hashlib
import json
import ssl
import struct
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    DatagramFrameReceived,
    StreamDataReceived,
)

ALPN = "arbiter/1"
# A datagram may be lost even on loopback: resend the move this many times.
MOVE_TRIES = 5
MOVE_WAIT_S = 2.0


class ArbiterQuic(QuicConnectionProtocol):
    """Length-prefixed JSON frames on one stream, JSON datagrams."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream_id = None
        self.buf = b""
        self.frames = asyncio.Queue()
        self.datagrams = 0

    def open_stream(self):
        self.stream_id = self._quic.get_next_available_stream_id()

    def send_frame(self, frame):
        data = json.dumps(frame).encode()
        self._quic.send_stream_data(self.stream_id, struct.pack(">I", len(data)) + data)
        self.transmit()

    def send_datagram(self, frame):
        self._quic.send_datagram_frame(json.dumps(frame).encode())
        self.transmit()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived) and event.stream_id == self.stream_id:
            self.buf += event.data
            while len(self.buf) >= 4:
                (length,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) < 4 + length:
                    break
                frame = json.loads(self.buf[4 : 4 + length])
                self.buf = self.buf[4 + length :]
                self.frames.put_nowait(frame)
        elif isinstance(event, DatagramFrameReceived):
            self.datagrams += 1
            self.frames.put_nowait(json.loads(event.data))
        elif isinstance(event, ConnectionTerminated):
            self.frames.put_nowait(
                {"t": "_closed", "p": {"code": event.error_code, "reason": event.reason_phrase}}
            )

    async def next_frame(self, timeout):
        frame = await asyncio.wait_for(self.frames.get(), timeout)
        if frame.get("t") == "_closed":
            raise RuntimeError(f"connection closed: {frame['p']}")
        return frame

    async def expect(self, kind, timeout=10.0):
        """Next frame of type `kind`, skipping others (presence, patches)."""
        while True:
            frame = await self.next_frame(timeout)
            if frame.get("t") == "error":
                raise RuntimeError(f"server error: {frame}")
            if frame.get("t") == kind:
                return frame


def peer_cert_sha256(client):
    # aioquic keeps the server's end-entity certificate (a `cryptography`
    # x509 object) on its TLS context once the handshake is done.
    cert = getattr(client._quic.tls, "_peer_certificate", None)
    if cert is None:
        raise RuntimeError("aioquic exposed no peer certificate to pin")
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def apply_position(pos, frame, sid):
    """Updates pos[x|y] from a snapshot or a patch of the arena state."""
    if frame["t"] == "state.snapshot":
        me = frame["p"]["state"].get("players", {}).get(sid, {})
        pos.update({k: me.get(k) for k in ("x", "y")})
    elif frame["t"] == "state.patch":
        for op in frame["p"]["ops"]:
            for axis in ("x", "y"):
                if op.get("path") == f"/players/{sid}/{axis}" and op.get("op") == "set":
                    pos[axis] = op["value"]


async def run(args):
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=[ALPN],
        max_datagram_frame_size=65536,
        server_name="localhost",
        # Trust comes from the pin below, as a WebTransport client's
        # serverCertificateHashes would.
        verify_mode=ssl.CERT_NONE,
    )
    async with connect(
        args.host, args.port, configuration=config, create_protocol=ArbiterQuic
    ) as client:
        pinned = peer_cert_sha256(client)
        if pinned != args.cert_sha256.lower():
            raise RuntimeError(f"certificate pin mismatch: got {pinned}")
        client.open_stream()
        client.send_frame(
            {"v": 1, "t": "handshake", "rid": "h", "p": {"v": 1, "codecs": ["json"], "project_id": args.project}}
        )
        ok = await client.expect("handshake.ok")
        sid = ok["p"]["session_id"]
        if ok["p"]["codec"] != "json" or ok.get("rid") != "h":
            raise RuntimeError(f"unexpected handshake.ok: {ok}")
        if ok["p"].get("quic", {}).get("cert_sha256") != pinned:
            raise RuntimeError(f"handshake.ok announces another certificate: {ok}")

        client.send_frame(
            {"v": 1, "t": "room.join_or_create", "rid": "j", "p": {"room_type": "arena", "room": args.room}}
        )
        joined = await client.expect("rpc.response")
        if not joined["p"].get("ok") or joined.get("rid") != "j":
            raise RuntimeError(f"join failed: {joined}")
        pos = {}
        apply_position(pos, await client.expect("state.snapshot"), sid)
        if pos != {"x": 0, "y": 0}:
            raise RuntimeError(f"unexpected start position {pos}")

        want = {"x": 3, "y": 4}
        move = {"v": 1, "t": "room.message", "room": args.room, "p": {"type": "move", "data": want}}
        for _ in range(MOVE_TRIES):
            client.send_datagram(move)
            try:
                while pos != want:
                    apply_position(pos, await client.expect("state.patch", MOVE_WAIT_S), sid)
                break
            except asyncio.TimeoutError:
                continue
        if pos != want:
            raise RuntimeError(f"the datagram move never showed in a patch (at {pos})")

        client.send_frame({"v": 1, "t": "ping", "p": {"ts": 7}})
        pong = await client.expect("pong")
        if pong["p"].get("ts") != 7:
            raise RuntimeError(f"unexpected pong: {pong}")

        if args.hold:
            print(f"moved {sid}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        client.close(error_code=0, reason_phrase="interop done")
    print("interop ok", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-sha256", required=True)
    parser.add_argument("--project", default="interop")
    parser.add_argument("--room", default="interop-1")
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(asyncio.wait_for(run(args), 60))
    except Exception as e:  # noqa: BLE001 - report any failure and exit 1
        print(f"interop failed: {e!r}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
