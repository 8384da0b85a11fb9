"""Files to upload: collected from paths and folders, clutter left out, split into requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.file_kinds import is_upload_content

JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
JUNK_FOLDERS = frozenset({"__macosx"})
PART_OVERHEAD = 512  # multipart headers and boundaries of one part, generously


@dataclass(frozen=True)
class UploadPart:
    """One file to send: the name the job records (a relative path) and where it is."""

    name: str
    path: Path
    size: int


def is_junk(relative: str) -> bool:
    """Return whether a relative path is operating-system clutter or hidden."""
    parts = relative.split("/")
    if any(part.startswith(".") or part.lower() in JUNK_FOLDERS for part in parts):
        return True
    return parts[-1].lower() in JUNK_FILES


def folder_parts(folder: Path) -> list[UploadPart]:
    """Return a folder's files, recursively, named by their path relative to the folder."""
    parts = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not path.is_symlink() and not is_junk(relative):
            parts.append(UploadPart(relative, path, path.stat().st_size))
    return parts


def collect_parts(paths: Iterable[Path]) -> list[UploadPart]:
    """Return the files named, and every file under the folders named."""
    parts: list[UploadPart] = []
    for path in paths:
        if path.is_dir():
            parts.extend(folder_parts(path))
        elif path.is_file():
            parts.append(UploadPart(path.name, path, path.stat().st_size))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return parts


def split_non_images(parts: Iterable[UploadPart]) -> tuple[list[UploadPart], list[UploadPart]]:
    """Return the parts that are images or archives by content, and the others."""
    kept: list[UploadPart] = []
    others: list[UploadPart] = []
    for part in parts:
        (kept if is_upload_content(part.path) else others).append(part)
    return kept, others


def part_cost(part: UploadPart) -> int:
    """Return about how many body bytes a part takes."""
    return part.size + PART_OVERHEAD + 2 * len(part.name.encode())


def plan_requests(
    parts: Sequence[UploadPart], *, max_request_bytes: int, max_parts: int, reserve: int = 0
) -> tuple[list[list[UploadPart]], list[UploadPart]]:
    """Split parts into requests under the size and count limits, keeping their order.

    `reserve` bytes are kept free in the first request (for the manifest). Returns the
    requests and the parts too large to fit in any request.
    """
    requests: list[list[UploadPart]] = []
    too_large: list[UploadPart] = []
    current: list[UploadPart] = []
    used = reserve
    for part in parts:
        cost = part_cost(part)
        if cost + PART_OVERHEAD > max_request_bytes:
            too_large.append(part)
            continue
        if current and (used + cost > max_request_bytes or len(current) >= max_parts):
            requests.append(current)
            current, used = [], 0
        current.append(part)
        used += cost
    if current:
        requests.append(current)
    return requests, too_large
