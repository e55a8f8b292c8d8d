"""``/v1/api-keys``: list, create and revoke the account's API keys (for programs; the web app uses its cookie)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from realtime.api.auth_models import CreateKey
from realtime.auth.credentials import ApiKeyInfo, KeyLimitReached
from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError

router = APIRouter(tags=["api keys"])


class ApiKeyView(BaseModel):
    id: str
    prefix: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class CreatedApiKey(ApiKeyView):
    api_key: str


def _view(k: ApiKeyInfo) -> ApiKeyView:
    return ApiKeyView(id=str(k.id), prefix=k.prefix, label=k.label, created_at=k.created_at, revoked_at=k.revoked_at)


@router.get("/v1/api-keys", response_model=dict[str, list[ApiKeyView]])
async def list_keys(account: AccountDep, state: StateDep) -> dict[str, list[ApiKeyView]]:
    return {"api_keys": [_view(k) for k in await state.web.credentials.list_keys(account.id)]}


@router.post("/v1/api-keys", status_code=201, response_model=CreatedApiKey)
async def create_key(body: CreateKey, account: AccountDep, state: StateDep) -> CreatedApiKey:
    """A new key, shown once in ``api_key``."""
    try:
        info, key = await state.web.credentials.create_key(account.id, body.label)
    except KeyLimitReached as exc:
        raise ApiError(409, "api_key_limit_reached", f"at most {exc.args[0]} active keys; revoke one") from None
    return CreatedApiKey(**_view(info).model_dump(), api_key=key)


@router.delete("/v1/api-keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, account: AccountDep, state: StateDep) -> Response:
    """Revoke a key: requests with it are refused from now on (streams already open run to their end)."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise ApiError(404, "api_key_not_found", "no such API key") from None
    if not await state.web.credentials.revoke_key(account.id, parsed):
        raise ApiError(404, "api_key_not_found", "no such API key")
    return Response(status_code=204)
