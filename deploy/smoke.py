"""Smoke-test a running gateway: /readyz answers 200, and /predict classifies a known tile.

    smoke.py URL

When set, ID_TOKEN (a Google ID token for the service's audience) goes in
X-Serverless-Authorization, so Cloud Run's IAM check passes while Authorization stays free
for the app's own API key (INFERQ_API_KEY, sent as a Bearer token). Exits 1 on failure.
Standard library only: it runs on a bare CI runner.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from typing import Any

READY_TIMEOUT_SECONDS = 90.0
PREDICT_ATTEMPTS = 3


def tile_png(size: int = 96) -> bytes:
    """Return a fixed RGB PNG tile: a purple-to-pink gradient, like H&E stained tissue."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(size) for c in (120 + x, 60 + y // 2, 160 + y // 3))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def headers() -> dict[str, str]:
    """Return the authentication headers the environment provides."""
    result = {}
    if token := os.environ.get("ID_TOKEN"):
        result["X-Serverless-Authorization"] = f"Bearer {token}"
    if key := os.environ.get("INFERQ_API_KEY"):
        result["Authorization"] = f"Bearer {key}"
    return result


def call(request: urllib.request.Request) -> tuple[int, Any]:
    """Send a request and return its status and JSON body, errors included."""
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_ready(url: str) -> None:
    """Poll /readyz until it answers 200 (a cold instance may take a while)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            status, body = call(urllib.request.Request(f"{url}/readyz", headers=headers()))
        except OSError as error:
            status, body = 0, str(error)
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"/readyz answered {status}: {body}")
        time.sleep(2)


def predict(url: str) -> dict[str, Any]:
    """Upload the tile to /predict and return the prediction."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="smoke.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + tile_png()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(
        f"{url}/predict", data=body, headers={**headers(), **content_type}, method="POST"
    )
    for _ in range(PREDICT_ATTEMPTS):  # 202: no result within the gateway's timeout yet
        status, answer = call(request)
        if status == 200:
            return dict(answer)
        if status != 202:
            break
    raise SystemExit(f"/predict answered {status}: {answer}")


def main(argv: list[str]) -> None:
    """Run the smoke test against the URL given on the command line."""
    if len(argv) != 2:
        raise SystemExit(__doc__)
    url = argv[1].rstrip("/")
    wait_ready(url)
    prediction = predict(url)
    scores = prediction.get("scores", {})
    if prediction.get("label") not in scores or not prediction.get("model_version"):
        raise SystemExit(f"/predict answered an incomplete prediction: {prediction}")
    if not 0.0 <= float(prediction["probability"]) <= 1.0:
        raise SystemExit(f"/predict answered a probability out of range: {prediction}")
    sys.stdout.write(
        f"smoke ok: {prediction['label']} ({prediction['probability']:.3f}) by "
        f"{prediction['model_name']} {prediction['model_version']}\n"
    )


if __name__ == "__main__":
    main(sys.argv)
