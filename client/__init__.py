"""The inferq Python client: a typed httpx client for the whole API and upload helpers."""

from client.api import ApiError, InferqClient
from client.files import UploadPart, collect_parts
from client.upload import FilesTooLargeError, UploadResult, upload_files

__all__ = [
    "ApiError",
    "FilesTooLargeError",
    "InferqClient",
    "UploadPart",
    "UploadResult",
    "collect_parts",
    "upload_files",
]
