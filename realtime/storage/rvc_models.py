"""Which voice has an RVC model attached, and where its files are (rows in ``voice_rvc_models``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg


@dataclass(slots=True, frozen=True)
class RVCModelRecord:
    voice_id: uuid.UUID
    model_path: Path
    index_path: Path | None
    sample_rate_hz: int
    use_f0: bool
    model_bytes: int
    created_at: datetime


def _record(row: asyncpg.Record) -> RVCModelRecord:
    return RVCModelRecord(row["voice_id"], Path(row["model_path"]),
                          Path(row["index_path"]) if row["index_path"] else None, row["sample_rate_hz"],
                          row["use_f0"], row["model_bytes"], row["created_at"])


class RVCModelStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def put(self, account_id: uuid.UUID, voice_id: uuid.UUID, model_path: Path, index_path: Path | None,
                  sample_rate_hz: int, use_f0: bool, model_bytes: int) -> RVCModelRecord:
        row = await self._pool.fetchrow(
            "INSERT INTO voice_rvc_models (voice_id, account_id, model_path, index_path, sample_rate_hz, use_f0, "
            "model_bytes) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (voice_id) DO UPDATE SET "
            "model_path = EXCLUDED.model_path, index_path = EXCLUDED.index_path, "
            "sample_rate_hz = EXCLUDED.sample_rate_hz, use_f0 = EXCLUDED.use_f0, "
            "model_bytes = EXCLUDED.model_bytes, created_at = now() RETURNING *",
            voice_id, account_id, str(model_path), str(index_path) if index_path else None, sample_rate_hz, use_f0,
            model_bytes,
        )
        return _record(row)

    async def get(self, account_id: uuid.UUID, voice_id: uuid.UUID) -> RVCModelRecord | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM voice_rvc_models WHERE account_id = $1 AND voice_id = $2", account_id, voice_id)
        return _record(row) if row else None

    async def delete(self, account_id: uuid.UUID, voice_id: uuid.UUID) -> RVCModelRecord | None:
        row = await self._pool.fetchrow(
            "DELETE FROM voice_rvc_models WHERE account_id = $1 AND voice_id = $2 RETURNING *", account_id, voice_id)
        return _record(row) if row else None
