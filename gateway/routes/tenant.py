"""Who the key belongs to, and the upload limits a client should plan its requests by."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.deps import SettingsDep, TenantDep
from gateway.errors import responses

router = APIRouter(tags=["tenant"])


class TenantPublic(BaseModel):
    """The calling key's tenant and the limits of one upload request."""

    tenant: str = Field(description="The tenant whose key made the request.")
    operator: bool = Field(description="Whether the tenant sees operator views (/v1/workers).")
    max_upload_bytes: int = Field(description="Largest request body (INFERQ_MAX_UPLOAD_BYTES).")
    max_files_per_request: int = Field(description="Most file parts one request may carry.")
    max_image_bytes: int = Field(
        description="Largest single image (INFERQ_MAX_IMAGE_BYTES); the page sends a larger "
        ".tif/.tiff as a slide, by chunked upload."
    )


@router.get("/v1/tenant", response_model=TenantPublic, responses=responses(401, 429))
def read_tenant_route(tenant: TenantDep, settings: SettingsDep) -> TenantPublic:
    """Return the key's tenant and the upload limits (the web page's sign-in checks a key here)."""
    return TenantPublic(
        tenant=tenant,
        operator=not settings.auth_enabled or tenant in settings.operators,
        max_upload_bytes=settings.max_upload_bytes,
        max_files_per_request=settings.max_files_per_request,
        max_image_bytes=settings.max_image_bytes,
    )
