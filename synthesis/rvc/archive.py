"""The zip layer of a torch ``.pth``, checked before torch opens it: what the archive claims must fit the file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from synthesis.interfaces import EngineError

_MAX_ENTRIES = 65536


def _error(message: str) -> EngineError:
    return EngineError("invalid_model", f"not a readable RVC .pth file: {message}")


def check_archive(data: bytes | Path) -> int:
    """Size of the file in bytes; raises ``EngineError('invalid_model')`` unless it is a plain torch zip archive.

    Every member must be stored uncompressed (torch writes them so), and their sizes must add up to no more than
    the file: a deflated member could claim gigabytes, and torch's reader allocates what a member claims.
    The legacy (pre-zip) torch format is refused: its loader allocates storages at the sizes its pickle claims.
    """
    try:
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
    except FileNotFoundError:
        raise EngineError("invalid_model", "the RVC model file is missing") from None
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise _error("not a zip archive (only torch files saved by torch 1.6 or later are accepted)") from None
    except Exception as exc:  # zipfile raises many types on hostile input; all mean the same here
        raise _error(f"a damaged zip archive ({type(exc).__name__})") from None
    if not members or len(members) > _MAX_ENTRIES:
        raise _error("the archive has no members or too many")
    if not any(m.filename.endswith("data.pkl") for m in members):
        raise _error("the archive holds no torch data.pkl")
    claimed = 0
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED:
            raise _error("compressed members are not accepted (torch stores them uncompressed)")
        claimed += member.file_size
        if member.file_size != member.compress_size or claimed > size:
            raise _error("the archive's members claim more data than the file holds")
    return size
