"""Archive bombs that lie about themselves: overlapping zip entries, a central directory
longer than its end record says, a tar header hundreds of megabytes long, and a chain of
tar headers that tarfile would follow by recursion. Each is refused from what the gateway
counts itself, quickly and without the memory it asks for."""

from __future__ import annotations

import gzip
import time

from tests.attacks.conftest import Target
from tests.attacks.intake import (
    MIB,
    crowded_zip,
    long_name_tar_gz,
    overlapping_zip,
    peak_rss,
    plain_tar,
    stored,
)
from tests.integration.conftest import tile_bytes

MEMORY_LIMIT = 40 * MIB


def post_archive(target: Target, name: str, data: bytes) -> tuple[int, str, float, int]:
    """Send a good tile and an archive; return status, detail, seconds and peak RSS growth."""
    files = [("files", ("first.png", tile_bytes(7))), ("files", (name, data))]
    with target.client() as client, peak_rss(target) as growth:
        started = time.perf_counter()
        response = client.post("/v1/jobs", files=files)
        seconds = time.perf_counter() - started
    return response.status_code, response.json()["detail"], seconds, growth()


def test_overlapping_zip_entries_are_refused_before_inflating(target: Target) -> None:
    bomb = overlapping_zip()  # 100 entries, one 20 MiB member: 2 GB if each were inflated
    assert len(bomb) < 160_000
    before = stored(target)
    code, detail, seconds, growth = post_archive(target, "overlap.zip", bomb)
    assert code == 413, detail
    assert "overlap.zip" in detail and "overlaps" in detail and "tile.png" in detail
    assert seconds < 2.0
    assert growth < MEMORY_LIMIT
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0


def test_central_directory_longer_than_declared_is_refused_from_the_scan(target: Target) -> None:
    bomb = crowded_zip(600_000, declared=1)
    before = stored(target)
    code, detail, seconds, growth = post_archive(target, "crowded.zip", bomb)
    assert code == 413, detail
    assert "crowded.zip" in detail and "limit of 10000 members" in detail
    assert seconds < 5.0
    assert growth < MEMORY_LIMIT, f"RSS grew {growth / MIB:.0f} MiB"
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0


def test_tar_long_name_header_is_refused_before_it_is_read(target: Target) -> None:
    bomb = long_name_tar_gz(400 * 10**6, {"ok.png": tile_bytes(8)})
    assert len(bomb) < 1 * MIB
    before = stored(target)
    code, detail, seconds, growth = post_archive(target, "long.tar.gz", bomb)
    assert code == 413, detail
    assert "long.tar.gz" in detail and "long-name header" in detail and "member 1" in detail
    assert seconds < 5.0
    assert growth < MEMORY_LIMIT, f"RSS grew {growth / MIB:.0f} MiB"
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0


def test_a_chain_of_tar_headers_is_refused_not_recursed(target: Target) -> None:
    one_long_name = long_name_tar_gz(10, {})  # a gzip stream: header, name, two end blocks
    chain = gzip.decompress(one_long_name)[:1024] * 3000  # tarfile would recurse 3000 deep
    bomb = gzip.compress(chain + plain_tar({"ok.png": tile_bytes(9)}))
    assert len(bomb) < 200_000
    before = stored(target)
    code, detail, seconds, growth = post_archive(target, "chain.tar.gz", bomb)
    assert code == 413, detail
    assert "chain.tar.gz" in detail and "member 1 has more than 8 extended headers" in detail
    assert seconds < 5.0
    assert growth < MEMORY_LIMIT, f"RSS grew {growth / MIB:.0f} MiB"
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0
