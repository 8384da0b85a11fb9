"""The multipart fields of the upload routes, described once for the API docs."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, UploadFile

FilesField = Annotated[
    list[UploadFile],
    File(
        min_length=1,
        description="One or many image files (PNG, JPEG, TIFF, BMP, WebP, GIF), or .zip, .tar "
        "or .tar.gz archives of folders of them.",
    ),
]
OptionalFilesField = Annotated[
    list[UploadFile] | None,
    File(description="Images or archives, as for POST /v1/jobs; may be left out with a manifest."),
]
