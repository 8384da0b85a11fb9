"""Which slides a tenant may name by reference: object-store and local prefixes per tenant.

An operator lists, per tenant, the prefixes its slides live under (INFERQ_SLIDE_SOURCES).
A reference is refused unless it is a gs:// or s3:// object or an absolute local path,
has no `.`/`..` segment, query or fragment, and lies under one of the tenant's prefixes
(whole path segments: `gs://lab/a` does not allow `gs://lab/ab`). A local path is judged
after resolving symlinks, and the resolved path is what the worker opens, so a link
inside an allowed folder cannot lead out of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

OBJECT_SCHEMES = ("gs://", "s3://")


class SourceRefusedError(ValueError):
    """A slide reference the tenant may not use; `forbidden` when it is only out of bounds."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.forbidden = forbidden


@dataclass(frozen=True)
class Reference:
    """A checked reference: the URL or real path the worker opens, and the file name."""

    url: str
    filename: str


def _check_shape(url: str) -> None:
    """Refuse references that are not plain object URLs or absolute paths."""
    if not url or len(url) > 2048 or any(ord(c) < 32 for c in url) or "\\" in url:
        raise SourceRefusedError("a slide reference must be a plain URL or path, 1-2048 chars")
    if "?" in url or "#" in url:
        raise SourceRefusedError("a slide reference may not carry a query or fragment")
    body = url.split("://", 1)[1] if "://" in url else url
    if any(part in {".", ".."} for part in body.split("/")):
        raise SourceRefusedError("a slide reference may not contain '.' or '..' segments")
    if "://" in url and not url.startswith((*OBJECT_SCHEMES, "file://")):
        scheme = url.split("://", 1)[0]
        raise SourceRefusedError(f"scheme {scheme}:// is not allowed: use gs://, s3:// or a path")
    if "://" not in url and not url.startswith("/"):
        raise SourceRefusedError("a local slide path must be absolute")


def _under(url: str, prefix: str) -> bool:
    return url.startswith(prefix if prefix.endswith("/") else prefix + "/")


def check_reference(url: str, allowed: list[str]) -> Reference:
    """Return the reference to open if the tenant may use it; SourceRefusedError says why not."""
    _check_shape(url)
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    if url.startswith(OBJECT_SCHEMES):
        if any(_under(url, prefix) for prefix in allowed if prefix.startswith(OBJECT_SCHEMES)):
            return Reference(url, filename)
        raise SourceRefusedError(
            "this slide is outside the prefixes your tenant may read", forbidden=True
        )
    real = os.path.realpath(url.removeprefix("file://"))
    local = [
        os.path.realpath(p.removeprefix("file://"))
        for p in allowed
        if "://" not in p or p.startswith("file://")
    ]
    if not any(_under(real, prefix) for prefix in local):
        raise SourceRefusedError(
            "this slide is outside the prefixes your tenant may read", forbidden=True
        )
    if not os.path.isfile(real):
        raise SourceRefusedError("no slide file at this path")
    return Reference(real, filename)
