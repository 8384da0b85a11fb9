"""Form parts a route takes once: sent twice, the request is refused rather than one
copy silently used."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, File, HTTPException, Request, UploadFile, status


async def refuse_repeated(request: Request, name: str) -> None:
    """Answer 400 when the multipart body holds more than one part called `name`."""
    count = len((await request.form()).getlist(name))  # parsed once, cached by Starlette
    if count > 1:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{count} '{name}' parts in the request; send exactly one",
        )


def fields_once(*names: str) -> Callable[[Request], Awaitable[None]]:
    """Return a dependency that answers 400 when one of these form fields is sent twice:
    `close=true` then `close=false` must not leave the choice to the parser."""

    async def refuse_repeated_fields(request: Request) -> None:
        for name in names:
            await refuse_repeated(request, name)

    return refuse_repeated_fields


async def single_manifest(
    request: Request,
    manifest: Annotated[
        UploadFile | None,
        File(
            description="Optional CSV with a header row: filename,label,patient_id"
            "[,slide_id,...]. A row matches the item with that relative path, else every "
            "item with that base name. One part at most."
        ),
    ] = None,
) -> UploadFile | None:
    """Return the request's one manifest part, if any."""
    await refuse_repeated(request, "manifest")
    return manifest


async def single_image(
    request: Request,
    file: Annotated[UploadFile, File(description="One image: exactly one `file` part.")],
) -> UploadFile:
    """Return the request's one `file` part."""
    await refuse_repeated(request, "file")
    return file


ManifestPart = Annotated[UploadFile | None, Depends(single_manifest)]
ImagePart = Annotated[UploadFile, Depends(single_image)]
