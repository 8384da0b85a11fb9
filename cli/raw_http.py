"""A keep-alive HTTP/1.1 connection that speaks just enough of the protocol for the bench.

A Python load generator shares the 2 cores with the stack it measures: httpx costs a few
milliseconds of CPU a request, about as much as the gateway spends answering it. This
client sends requests built once as bytes and reads answers by their Content-Length, so
the loads measure the stack rather than its clients. It sends to 127.0.0.1 only, like every
bench generator.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class RawHttpError(RuntimeError):
    """An answer this client cannot read (no Content-Length, a closed connection)."""


BOUNDARY = "inferqbench"


def multipart_body(field: str, files: list[tuple[str, bytes]]) -> bytes:
    """Return a multipart form body carrying each (filename, bytes) as a PNG part of `field`."""
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"'
        f"\r\nContent-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    )
    return parts + f"--{BOUNDARY}--\r\n".encode()


def multipart_post(
    url: str, path: str, key: str, field: str, files: list[tuple[str, bytes]]
) -> bytes:
    """Return a POST of file parts (multipart_body), as bytes ready to send on a keep-alive
    connection."""
    body = multipart_body(field, files)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(url: str, path_and_query: str, key: str) -> bytes:
    """Return a GET with the API key, as bytes."""
    host = urlsplit(url).netloc
    head = f"GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}"
    return (head + "\r\n\r\n").encode()


class RawConnection:
    """One connection to the stack; one request at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1":
            raise ValueError("the bench sends to 127.0.0.1: loopback only")
        self._address = (parts.hostname, parts.port or 80)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a request built by this module; return the answer's status and body."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        writer.write(request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise RawHttpError("connection closed before an answer") from exc
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                self._streams = None
        if length is None:
            await self.close()
            raise RawHttpError(f"answer {status} without Content-Length")
        body = await reader.readexactly(length)
        if self._streams is None:
            writer.close()
        return status, body

    async def close(self) -> None:
        """Close the connection (the next send opens another)."""
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
