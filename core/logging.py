"""Logging setup for entry points: one JSON object a line, with job and item IDs when given."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

REDACTED = "***"
# Names whose values are secrets wherever they appear as `name=value` (query strings, forms,
# key=value log text) or `name: value` (headers).
_SECRET_NAME = (
    r"[\w.-]{0,32}(?:key|token|secret|passw(?:or)?d|auth|signature|credential|session|cookie)"
    r"[\w.-]{0,32}"
)
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME})=[^&\s\"'#;,]*"), rf"\1={REDACTED}"),
    (
        re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME}[\"']?\s*:\s*[\"']?)[^\s\"',;}}]+"),
        rf"\1{REDACTED}",
    ),
    # An inferq API key (db.api_keys: "iq_" and 43 URL-safe characters), under any name.
    (re.compile(r"\biq_[\w-]{16,}"), f"iq_{REDACTED}"),
]


def redact(text: str) -> str:
    """Return `text` with API keys, credentials and secret-named values replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redact every record's message and text fields before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        for name, value in list(record.__dict__.items()):
            if name not in _RESERVED and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """Format records as JSON, carrying any `extra=` fields such as job_id."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            payload["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Configure the root logger; call only from entry points."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The async connection pool (db.loop_sql) logs each checkout and return at INFO: three
    # lines a statement of every /predict call.
    logging.getLogger("psycopg.pool").setLevel(max(logging.WARNING, root.level))
