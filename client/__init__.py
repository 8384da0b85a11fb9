"""The inferq Python client: a typed httpx client for the whole API, upload helpers and
resumable chunked uploads."""

from client.api import ApiError, InferqClient
from client.chunked import ChunkedUploader, UploadDone
from client.files import UploadPart, collect_parts
from client.upload import FilesTooLargeError, UploadResult, upload_files

__all__ = [
    "ApiError",
    "ChunkedUploader",
    "FilesTooLargeError",
    "InferqClient",
    "UploadDone",
    "UploadPart",
    "UploadResult",
    "collect_parts",
    "upload_files",
]
