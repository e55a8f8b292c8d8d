"""``GET /v1/usage/daily``: settled usage per day and operation, for the dashboard's chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from billing.pricing import credits_from_millicredits
from realtime.deps import AccountDep, StateDep
from realtime.storage.web_extras import daily_usage

router = APIRouter(tags=["billing"])


@router.get("/v1/usage/daily")
async def usage_per_day(
    account: AccountDep,
    state: StateDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    utc_offset_min: Annotated[int, Query(ge=-840, le=840)] = 0,
) -> dict[str, Any]:
    """The last ``days`` days; days are local to ``utc_offset_min`` (Brasília is -180)."""
    end = datetime.now(UTC)
    offset = timedelta(minutes=utc_offset_min)
    local_today = (end + offset).date()
    first_day = local_today - timedelta(days=days - 1)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - offset
    rows = await daily_usage(state.pool, account.id, start, end, offset)
    return {
        "from_day": first_day.isoformat(), "to_day": local_today.isoformat(),
        "days": [{"day": r.day.isoformat(), "operation": r.operation, "seconds": r.audio_ms / 1000,
                  "credits": credits_from_millicredits(r.charged_mc)} for r in rows],
    }
