"""Build zip and tar archives in memory: folders of tiles, and a corpus of malicious ones."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from dataclasses import dataclass

from tests.gateway.conftest import png_bytes


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """Return a deflated zip holding the members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(
    members: dict[str, bytes], *, gz: bool = False, extra: tuple[tarfile.TarInfo, ...] = ()
) -> bytes:
    """Return a tar (or tar.gz) holding the members, then any extra header-only entries."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT
    ) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return buffer.getvalue()


def zip_symlink(name: str, target: str) -> bytes:
    """Return a zip with a good tile and a symbolic link member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.png", png_bytes(1))
        info = zipfile.ZipInfo(name)
        info.create_system = 3  # unix, so the mode bits count
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """Return a header-only tar entry of a given type (link, device, fifo)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def zeros_zip(name: str, size: int) -> bytes:
    """Return a zip bomb: `size` zero bytes deflate to about a thousandth of that."""
    return zip_bytes({"ok.png": png_bytes(1), name: b"\0" * size})


def zeros_tar_gz(name: str, size: int) -> bytes:
    """Return a tar.gz bomb of `size` zero bytes."""
    return tar_bytes({"ok.png": png_bytes(1), name: b"\0" * size}, gz=True)


@dataclass(frozen=True)
class Malicious:
    """An archive that must be refused, the status expected, and the member to be named."""

    case: str
    filename: str
    data: bytes
    status: int
    member: str


def malicious_corpus(max_members: int) -> list[Malicious]:
    """Return one archive per attack; each must be refused whole, naming the culprit."""
    ok = {"ok.png": png_bytes(1)}
    many = {f"t/{i}.png": b"x" for i in range(max_members + 1)}
    return [
        Malicious(
            "zip-slip",
            "slip.zip",
            zip_bytes({**ok, "../../evil-zip.png": png_bytes(2)}),
            422,
            "../../evil-zip.png",
        ),
        Malicious(
            "tar-slip",
            "slip.tar",
            tar_bytes({**ok, "a/../../evil-tar.png": png_bytes(3)}),
            422,
            "a/../../evil-tar.png",
        ),
        Malicious(
            "zip-absolute",
            "abs.zip",
            zip_bytes({**ok, "/tmp/evil-abs.png": png_bytes(4)}),
            422,
            "/tmp/evil-abs.png",
        ),
        Malicious(
            "tar-absolute",
            "abs.tar.gz",
            tar_bytes({**ok, "/tmp/evil-abs2.png": png_bytes(5)}, gz=True),
            422,
            "/tmp/evil-abs2.png",
        ),
        Malicious(
            "zip-windows-slip",
            "win.zip",
            zip_bytes({**ok, "..\\evil-win.png": png_bytes(6)}),
            422,
            "..\\evil-win.png",
        ),
        Malicious(
            "zip-symlink", "link.zip", zip_symlink("link.png", "/etc/passwd"), 422, "link.png"
        ),
        Malicious(
            "tar-symlink",
            "link.tar",
            tar_bytes(ok, extra=(tar_entry("link.png", tarfile.SYMTYPE, "/etc/passwd"),)),
            422,
            "link.png",
        ),
        Malicious(
            "tar-hardlink",
            "hard.tar",
            tar_bytes(ok, extra=(tar_entry("hard.png", tarfile.LNKTYPE, "/etc/shadow"),)),
            422,
            "hard.png",
        ),
        Malicious(
            "tar-device",
            "dev.tar",
            tar_bytes(ok, extra=(tar_entry("dev/sda", tarfile.BLKTYPE),)),
            422,
            "dev/sda",
        ),
        Malicious(
            "tar-fifo",
            "fifo.tar",
            tar_bytes(ok, extra=(tar_entry("pipe", tarfile.FIFOTYPE),)),
            422,
            "pipe",
        ),
        Malicious("zip-bomb", "bomb.zip", zeros_zip("bomb.png", 4 * 1024 * 1024), 413, "bomb.png"),
        Malicious(
            "tar-gz-bomb", "bomb.tar.gz", zeros_tar_gz("bomb.png", 4 * 1024 * 1024), 413, "bomb.png"
        ),
        Malicious("zip-too-many", "many.zip", zip_bytes(many), 413, f"{max_members + 1} members"),
        Malicious("tar-too-many", "many.tar", tar_bytes(many), 413, f"t/{max_members}.png"),
    ]
