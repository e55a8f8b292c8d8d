"""``/v1/voices/{id}/rvc-model``: attach a trained RVC v2 model (``.pth``, optional faiss ``.index``) to a voice."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from realtime.deps import AccountDep, StateDep
from realtime.errors import ApiError
from realtime.storage.rvc_models import RVCModelRecord, RVCModelStore
from synthesis.interfaces import EngineError
from synthesis.rvc.archive import check_archive
from synthesis.rvc.index_format import read_header
from synthesis.rvc.sandbox import validate_in_child

router = APIRouter(tags=["voices"])
_READ_CHUNK = 1 << 20
_VALIDATION_TIMEOUT_S = 300.0
_VALIDATION_MEMORY_BYTES = 3 * 1024**3
_SLOT_WAIT_S = 30.0


class RVCModelView(BaseModel):
    voice_id: str
    sample_rate: int
    f0: bool
    has_index: bool
    model_bytes: int


def _view(r: RVCModelRecord) -> RVCModelView:
    return RVCModelView(voice_id=str(r.voice_id), sample_rate=r.sample_rate_hz, f0=r.use_f0,
                        has_index=r.index_path is not None, model_bytes=r.model_bytes)


def _voice_uuid(voice_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(voice_id)
    except ValueError:
        raise ApiError(404, "voice_not_found", "no such voice") from None


async def _save_limited(upload: UploadFile, dest: Path, limit: int) -> int:
    size = 0
    with dest.open("wb") as fh:
        while chunk := await upload.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"the file is larger than {limit // (1024 * 1024)} MB")
            await asyncio.to_thread(fh.write, chunk)
    return size


def _check_structure(model_path: Path, index_path: Path | None) -> None:
    """What can be refused from sizes and headers alone, without torch or faiss reading the files."""
    check_archive(model_path)
    if index_path is not None:
        read_header(index_path)


async def _validate(state: StateDep, model_path: Path, index_path: Path | None) -> tuple[int, bool]:
    """``(sample_rate_hz, use_f0)``; the model is loaded and run only in a child process (``validate_in_child``)."""
    await asyncio.to_thread(_check_structure, model_path, index_path)
    try:
        async with asyncio.timeout(_SLOT_WAIT_S):
            await state.rvc_validations.acquire()
    except TimeoutError:
        raise ApiError(503, "busy", "too many models are being checked; try again shortly",
                       headers={"Retry-After": "10"}) from None
    try:
        return await validate_in_child(model_path, index_path, timeout_s=_VALIDATION_TIMEOUT_S,
                                       memory_bytes=_VALIDATION_MEMORY_BYTES)
    finally:
        state.rvc_validations.release()


def _store(state: StateDep) -> RVCModelStore:
    return RVCModelStore(state.pool)


@router.post("/v1/voices/{voice_id}/rvc-model", status_code=201, response_model=RVCModelView)
async def upload_rvc_model(
    voice_id: str, account: AccountDep, state: StateDep,
    model: Annotated[UploadFile, File(description="RVC v2 .pth")],
    index: Annotated[UploadFile | None, File(description="optional faiss .index")] = None,
) -> RVCModelView:
    vid = _voice_uuid(voice_id)
    if await state.voices.get(account.id, vid) is None:
        raise ApiError(404, "voice_not_found", "no such voice")
    limit = state.settings.rvc_max_model_bytes
    folder = state.settings.data_dir / "rvc" / str(account.id) / str(vid)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="upload-", dir=folder))
    try:
        model_tmp = staging / "voice.pth"
        size = await _save_limited(model, model_tmp, limit)
        if size == 0:
            raise ApiError(422, "invalid_model", "the model file is empty")
        index_tmp = None
        if index is not None and index.filename:
            index_tmp = staging / "voice.index"
            await _save_limited(index, index_tmp, limit)
        try:
            sample_rate_hz, use_f0 = await _validate(state, model_tmp, index_tmp)
        except EngineError as exc:
            if exc.retryable:
                raise ApiError(503, exc.code, exc.message, headers={"Retry-After": "30"}) from None
            raise ApiError(422, exc.code, exc.message) from None
        # A fresh name per upload: a replaced model is never confused with the cached old one.
        version = uuid.uuid4().hex[:12]
        model_path = folder / f"voice-{version}.pth"
        model_tmp.replace(model_path)
        index_path = None
        if index_tmp is not None:
            index_path = folder / f"voice-{version}.index"
            index_tmp.replace(index_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    old = await _store(state).get(account.id, vid)
    record = await _store(state).put(account.id, vid, model_path.resolve(),
                                     index_path.resolve() if index_path else None, sample_rate_hz, use_f0,
                                     size)
    if old is not None:
        _remove_files(old)
    return _view(record)


def _remove_files(record: RVCModelRecord) -> None:
    for path in (record.model_path, record.index_path):
        if path is not None:
            path.unlink(missing_ok=True)


@router.get("/v1/voices/{voice_id}/rvc-model", response_model=RVCModelView)
async def get_rvc_model(voice_id: str, account: AccountDep, state: StateDep) -> RVCModelView:
    record = await _store(state).get(account.id, _voice_uuid(voice_id))
    if record is None:
        raise ApiError(404, "rvc_model_not_found", "this voice has no RVC model")
    return _view(record)


@router.delete("/v1/voices/{voice_id}/rvc-model", status_code=204)
async def delete_rvc_model(voice_id: str, account: AccountDep, state: StateDep) -> Response:
    record = await _store(state).delete(account.id, _voice_uuid(voice_id))
    if record is None:
        raise ApiError(404, "rvc_model_not_found", "this voice has no RVC model")
    _remove_files(record)
    return Response(status_code=204)
