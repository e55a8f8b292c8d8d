"""Voice profiles in PostgreSQL (the reference audio is stored with its row as 16-bit PCM)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from realtime.voices.reference_audio import ReferenceAudio
from synthesis.interfaces import VoiceReference


@dataclass(slots=True, frozen=True)
class Voice:
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    language: str
    reference_text: str | None
    duration_ms: int
    created_at: datetime


_COLUMNS = "id, account_id, name, language, reference_text, duration_ms, created_at"


def _voice(row: asyncpg.Record) -> Voice:
    return Voice(
        row["id"], row["account_id"], row["name"], row["language"], row["reference_text"],
        row["duration_ms"], row["created_at"],
    )


class VoiceLimitReached(Exception):
    pass


class VoiceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, account_id: uuid.UUID, name: str, language: str, reference_text: str | None,
        audio: ReferenceAudio, max_voices: int,
    ) -> Voice:
        voice_id = uuid.uuid4()
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises concurrent uploads of one account so the limit holds.
            await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)
            count = await conn.fetchval("SELECT count(*) FROM voices WHERE account_id = $1", account_id)
            if count >= max_voices:
                raise VoiceLimitReached(max_voices)
            row = await conn.fetchrow(
                f"INSERT INTO voices (id, account_id, name, language, reference_text, duration_ms, "
                f"sample_rate_hz, pcm_s16le) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING {_COLUMNS}",
                voice_id, account_id, name, language, reference_text,
                round(audio.duration_s * 1000), audio.sample_rate_hz, audio.to_pcm_s16le(),
            )
        return _voice(row)

    async def list(self, account_id: uuid.UUID) -> list[Voice]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM voices WHERE account_id = $1 ORDER BY created_at, id", account_id
        )
        return [_voice(r) for r in rows]

    async def get(self, account_id: uuid.UUID, voice_id: uuid.UUID) -> Voice | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM voices WHERE account_id = $1 AND id = $2", account_id, voice_id
        )
        return _voice(row) if row else None

    async def delete(self, account_id: uuid.UUID, voice_id: uuid.UUID) -> bool:
        status = await self._pool.execute("DELETE FROM voices WHERE account_id = $1 AND id = $2", account_id, voice_id)
        return bool(status.endswith(" 1"))

    async def reference(self, account_id: uuid.UUID, voice_id: uuid.UUID) -> VoiceReference | None:
        """The voice with its audio, as engines take it."""
        row = await self._pool.fetchrow(
            "SELECT id, language, reference_text, sample_rate_hz, pcm_s16le FROM voices "
            "WHERE account_id = $1 AND id = $2",
            account_id, voice_id,
        )
        if row is None:
            return None
        audio = ReferenceAudio.from_pcm_s16le(row["pcm_s16le"], row["sample_rate_hz"])
        return VoiceReference(
            voice_id=str(row["id"]), language=row["language"], samples=audio.samples,
            sample_rate_hz=audio.sample_rate_hz, reference_text=row["reference_text"],
        )
