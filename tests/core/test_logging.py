"""Log lines never carry a key, a credential or a secret-named value."""

from __future__ import annotations

import json
import logging
import time

import pytest

from core.logging import JsonFormatter, RedactingFilter, redact

KEY = "iq_" + "Ab1-_" * 8 + "xyz"  # the shape db.api_keys makes: "iq_" and 43 characters


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f'"GET /v1/jobs?api_key={KEY}&limit=5 HTTP/1.1" 200', "limit=5"),
        ("GET /v1/jobs?token=abc&cursor=9&access_token=def&X-Amz-Signature=f0", "cursor=9"),
        (f"GET /v1/jobs?k={KEY}&format=csv", "format=csv"),
        (f"GET /v1/jobs/{KEY}/results", "/results"),
        ("Authorization: Bearer s3cr3t-token", "Authorization:"),
        ('{"x-api-key": "s3cr3t-token", "job": 1}', '"job": 1'),
        ("password=s3cr3t-token; session=s3cr3t-token", "password="),
        ("retrying with Basic s3cr3t-token", "retrying with"),
    ],
)
def test_secrets_are_redacted_and_the_rest_kept(line: str, kept: str) -> None:
    redacted = redact(line)
    assert KEY not in redacted
    assert "s3cr3t" not in redacted
    assert "abc" not in redacted and "def" not in redacted and "f0" not in redacted
    assert kept in redacted
    assert "***" in redacted


def test_ordinary_lines_are_unchanged() -> None:
    line = '127.0.0.1:5 - "GET /v1/jobs?ids=a,b&limit=50&cursor=10&format=csv HTTP/1.1" 200'
    assert redact(line) == line
    assert redact("job 12: 3 items queued") == "job 12: 3 items queued"


def test_long_adversarial_lines_stay_cheap() -> None:
    for line in ("key" * 11_000, "a" * 33_000, ("x" * 30 + "token" + "x" * 30 + ":") * 500):
        started = time.perf_counter()
        redact(line)
        assert time.perf_counter() - started < 0.5


def test_the_filter_redacts_arguments_extras_and_tracebacks() -> None:
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "%s", ("?token=abc",), None)
        record.exc_info = __import__("sys").exc_info()
    record.url = f"/v1/jobs?api_key={KEY}"
    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert KEY not in line and "abc" not in json.loads(line)["message"]
    assert json.loads(line)["url"] == "/v1/jobs?api_key=***"
    assert "bad key iq_***" in json.loads(line)["exception"]
