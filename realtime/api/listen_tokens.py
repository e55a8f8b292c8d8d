"""``/v1/listen-tokens``: listen-only tokens for OBS browser sources (``/obs?token=…``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError
from realtime.pipeline.broadcast import CHANNEL_PATTERN
from realtime.storage.listen_tokens import ListenToken
from realtime.validation import Label

router = APIRouter(tags=["obs"])

MAX_TOKENS_PER_ACCOUNT = 20


class CreateListenToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(default="obs", pattern=CHANNEL_PATTERN)
    label: Label | None = None


class ListenTokenView(BaseModel):
    id: str
    channel: str
    label: str | None
    created_at: datetime


class CreatedListenToken(ListenTokenView):
    token: str
    obs_path: str


def _view(t: ListenToken) -> ListenTokenView:
    return ListenTokenView(id=str(t.id), channel=t.channel, label=t.label, created_at=t.created_at)


@router.post("/v1/listen-tokens", status_code=201, response_model=CreatedListenToken)
async def create_listen_token(body: CreateListenToken, account: AccountDep, state: StateDep) -> CreatedListenToken:
    """A token that only listens to one relay channel; shown once. Paste ``obs_path`` (after the server's address)
    into an OBS Browser source: unlike the API key, it cannot spend credits or read anything else."""
    created = await state.listen_tokens.create(account.id, body.channel, body.label, MAX_TOKENS_PER_ACCOUNT)
    if created is None:
        raise ApiError(409, "listen_token_limit_reached",
                       f"an account holds at most {MAX_TOKENS_PER_ACCOUNT} listen tokens; delete one first")
    record, token = created
    return CreatedListenToken(**_view(record).model_dump(), token=token,
                              obs_path="/obs?" + urlencode({"token": token}))


@router.get("/v1/listen-tokens", response_model=dict[str, list[ListenTokenView]])
async def list_listen_tokens(account: AccountDep, state: StateDep) -> dict[str, list[ListenTokenView]]:
    return {"listen_tokens": [_view(t) for t in await state.listen_tokens.list(account.id)]}


@router.delete("/v1/listen-tokens/{token_id}", status_code=204)
async def delete_listen_token(token_id: str, account: AccountDep, state: StateDep) -> Response:
    """Revoke a token; OBS sources listening with it are disconnected at once."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        parsed = None
    token = next((t for t in await state.listen_tokens.list(account.id) if t.id == parsed), None)
    if token is None or not await state.listen_tokens.delete(account.id, token.id):
        raise ApiError(404, "listen_token_not_found", "no such listen token")
    state.broadcast.revoke(account.id, token.channel, token.id)
    return Response(status_code=204)
