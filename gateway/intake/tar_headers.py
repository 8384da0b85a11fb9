"""Tar extended headers (GNU long name/link, pax) capped before tarfile reads them.

tarfile reads such a header whole into memory, whatever size it claims, and follows a
chain of them by recursion; `CappedTarInfo` refuses one past the size limit before a byte
of it is read, a pax header with too many records, and a chain too long for one member.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from fastapi import status

from gateway.intake.budget import RefusedError, printable

#: Largest extended header (GNU long name or link, pax records) read into memory.
MAX_HEADER_BYTES = 64 * 1024
#: Most records one pax header may hold.
MAX_PAX_RECORDS = 128
#: Extended headers one member may have (a long name, a long link, pax, a global header).
MAX_HEADER_CHAIN = 8
_KINDS = {
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
    tarfile.XHDTYPE: "pax",
    tarfile.XGLTYPE: "pax global",
    tarfile.SOLARIS_XHDTYPE: "pax",
}
_CHAIN = "inferq_header_chain"


class HeaderRefusedError(Exception):
    """An extended header is refused; the message says why (member not yet known)."""


class CappedTarInfo(tarfile.TarInfo):
    """A TarInfo that will not read an extended header past the limits."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        kind = _KINDS.get(self.type)
        if kind is None:
            member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
            return member
        if self.size > MAX_HEADER_BYTES:
            raise HeaderRefusedError(
                f"has a {self.size}-byte {kind} header, more than the limit of {MAX_HEADER_BYTES}"
            )
        chain = getattr(tar, _CHAIN, 0) + 1  # tarfile follows a chain by recursion
        if chain > MAX_HEADER_CHAIN:
            raise HeaderRefusedError(f"has more than {MAX_HEADER_CHAIN} extended headers")
        setattr(tar, _CHAIN, chain)
        try:
            member = super()._proc_member(tar)  # type: ignore[misc]
        finally:
            setattr(tar, _CHAIN, chain - 1)
        if len(member.pax_headers) > MAX_PAX_RECORDS:
            raise HeaderRefusedError(f"has more than {MAX_PAX_RECORDS} pax records")
        return member


def open_tar(fileobj: BinaryIO) -> tarfile.TarFile:
    """Open a tar stream (gzip or not) whose extended headers are capped."""
    fileobj.seek(0)
    return tarfile.open(fileobj=fileobj, mode="r|*", tarinfo=CappedTarInfo)


def refuse_header(
    exc: HeaderRefusedError, archive: str, position: int, after: str | None
) -> RefusedError:
    """Return the 413 naming the member by position (its name is in the refused header)."""
    where = f"member {position}" + (f" (after '{printable(after)}')" if after else "")
    return RefusedError(
        status.HTTP_413_CONTENT_TOO_LARGE, f"archive '{printable(archive)}': {where} {exc}"
    )
