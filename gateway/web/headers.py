"""Security headers of the web page and the API docs: a strict Content-Security-Policy.

The page's own documents load only the gateway's scripts and styles. The docs pages are
the ones FastAPI renders: Swagger UI starts from one inline script, allowed by its hash
(computed from the page as served, so a new fastapi-offline release keeps working), and
ReDoc injects its styles at run time, so the docs alone allow inline styles.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access import is_web_page, route_path

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
    "form-action 'self'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def script_hashes(html: bytes) -> str:
    """Return the CSP sources that allow exactly the page's inline scripts."""
    digests = (hashlib.sha256(script).digest() for script in INLINE_SCRIPT.findall(html))
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests) or "'none'"


class SecurityHeadersMiddleware:
    """Add the policy to the web page's and the docs' answers; leave the API's alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if is_web_page(path):
            await self.app(scope, receive, self.sending(send, PAGE_POLICY))
        elif path in DOCS_PAGES:
            await self.app(scope, receive, self.hashing(send))
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def sending(send: Send, policy: str) -> Send:
        """Return a send that adds the headers to the response's start."""

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                for name, value in COMMON.items():
                    headers[name] = value
            await send(message)

        return send_with_policy

    @staticmethod
    def hashing(send: Send) -> Send:
        """Return a send that holds the docs page back until its inline scripts are hashed."""
        held: list[Message] = []

        async def send_with_hashes(message: Message) -> None:
            held.append(message)
            if message["type"] != "http.response.body" or message.get("more_body"):
                return
            body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            policy = DOCS_POLICY.format(hashes=script_hashes(body))
            forward = SecurityHeadersMiddleware.sending(send, policy)
            for each in held:
                await forward(each)

        return send_with_hashes
