"""The bench's raw HTTP client: prebuilt requests on one keep-alive connection, answers
read by Content-Length, anything else refused."""

from __future__ import annotations

import asyncio

import pytest
from python_multipart.multipart import MultipartParser

from cli import raw_http
from cli.raw_http import RawConnection, RawHttpError, get_request, multipart_post


async def serve(answers: list[bytes], seen: list[bytes]) -> tuple[asyncio.Server, str]:
    """A loopback server that records each request's head and answers from the list."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            seen.append(head)
            writer.write(answers.pop(0))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def test_two_requests_share_one_connection_and_bodies_are_read_whole() -> None:
    async def run() -> tuple[list[tuple[int, bytes]], list[bytes]]:
        seen: list[bytes] = []
        answers = [
            b'HTTP/1.1 202 Accepted\r\ncontent-length: 14\r\n\r\n{"job_id":"j"}',
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        ]
        server, url = await serve(answers, seen)
        connection = RawConnection(url)
        got = [
            await connection.send(
                multipart_post(url, "/v1/jobs", "k", "files", [("a.png", b"PNG")])
            ),
            await connection.send(get_request(url, "/v1/jobs?ids=j", "k")),
        ]
        await connection.close()
        server.close()
        return got, seen

    got, seen = asyncio.run(run())
    assert got == [(202, b'{"job_id":"j"}'), (200, b"{}")]
    assert seen[0].startswith(b"POST /v1/jobs HTTP/1.1") and b"Bearer k" in seen[0]
    assert seen[1].startswith(b"GET /v1/jobs?ids=j HTTP/1.1")


def test_an_answer_without_content_length_is_refused() -> None:
    async def run() -> None:
        answers = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]
        server, url = await serve(answers, [])
        try:
            await RawConnection(url).send(get_request(url, "/", "k"))
        finally:
            server.close()

    with pytest.raises(RawHttpError, match="without Content-Length"):
        asyncio.run(run())


def test_only_loopback_is_a_target() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        RawConnection("http://example.org:80")


def test_a_form_of_several_files_parses_back_to_each_file_whole() -> None:
    files = [("0.png", b"\x89PNG one\r\n--inferq"), ("1.png", b"two"), ("2.png", b"")]
    parts = []
    parser = MultipartParser(
        raw_http.BOUNDARY,
        {
            "on_part_begin": lambda: parts.append(b""),
            "on_part_data": lambda data, start, end: parts.append(parts.pop() + data[start:end]),
        },
    )
    parser.write(raw_http.multipart_body("files", files))
    parser.finalize()
    assert parts == [data for _, data in files]
    assert raw_http.multipart_body("files", files).count(b'name="files"; filename="1.png"') == 1
