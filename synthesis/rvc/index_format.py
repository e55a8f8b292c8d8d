"""A walk over a faiss ``.index`` file's structure, checking every size it claims against the bytes really there.

faiss allocates what a header claims before reading it (a 61-byte file can ask for gigabytes), so a file is walked
first and handed to faiss only if it is one of the types RVC writes — ``IndexFlatL2``/``IndexFlatIP`` or
``IndexIVFFlat`` over a flat quantizer with array inverted lists — and every vector, list and code it claims is
present in the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from synthesis.interfaces import EngineError

ACCEPTED_DIMENSIONS = (256, 768)
_FLAT = {b"IxF2": 1, b"IxFI": 0}  # fourcc: metric (1 = L2, 0 = inner product)
_IVF_FLAT = b"IwFl"
_MAX_LISTS = 1 << 20
_DIRECT_MAP_ENTRY_BYTES = {0: 0, 1: 8, 2: 16}  # none, array of ids, hash table of (id, offset) pairs


@dataclass(slots=True, frozen=True)
class IndexHeader:
    kind: str
    dimension: int
    vectors: int


def _error(message: str) -> EngineError:
    return EngineError("invalid_index", f"the faiss .index file is not usable: {message}")


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh = fh
        self._left = size

    def take(self, n: int) -> bytes:
        if n > self._left:
            raise _error("it claims more data than the file holds")
        data = self._fh.read(n)
        if len(data) != n:
            raise _error("it is shorter than it claims")
        self._left -= n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or n > self._left:
            raise _error("it claims more data than the file holds")
        self._fh.seek(n, 1)
        self._left -= n

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return values

    def vector_length(self, item_bytes: int) -> int:
        (n,) = self.unpack("Q")
        self.skip_checked(n, item_bytes)
        return n

    def skip_checked(self, count: int, item_bytes: int) -> None:
        if count > self._left // max(1, item_bytes):
            raise _error("it claims more data than the file holds")
        self.skip(count * item_bytes)

    @property
    def left(self) -> int:
        return self._left


def _header(r: _Reader) -> tuple[int, int, int]:
    """(dimension, vectors, metric) of faiss's common index header."""
    d, ntotal, _, _, _trained, metric = r.unpack("iqqqBi")
    if metric > 1:
        raise _error(f"metric {metric} is not one RVC uses")
    if d not in ACCEPTED_DIMENSIONS:
        raise _error(f"{d}-d vectors (RVC indexes hold 256-d or 768-d vectors)")
    if ntotal < 0:
        raise _error("a negative vector count")
    return d, ntotal, metric


def _flat(r: _Reader, fourcc: bytes) -> tuple[int, int]:
    d, ntotal, metric = _header(r)
    if metric != _FLAT[fourcc]:
        raise _error("its metric does not match its type")
    if ntotal > r.left // (4 * d):
        raise _error(f"it claims {ntotal} vectors but the file cannot hold them")
    floats = r.vector_length(4)
    if floats != ntotal * d:
        raise _error("its vector data does not match its vector count")
    return d, ntotal


def _ivf_flat(r: _Reader) -> tuple[int, int]:
    d, ntotal, _ = _header(r)
    nlist, _nprobe = r.unpack("QQ")
    if not 0 < nlist <= _MAX_LISTS:
        raise _error(f"{nlist} inverted lists")
    fourcc = r.take(4)
    if fourcc not in _FLAT:
        raise _error("its quantizer is not a flat index")
    qd, centroids = _flat(r, fourcc)
    if qd != d or centroids != nlist:
        raise _error("its quantizer does not match it")
    (map_type,) = r.unpack("B")
    if map_type not in _DIRECT_MAP_ENTRY_BYTES:
        raise _error("an unknown direct map")
    r.vector_length(8)
    if map_type == 2:
        r.vector_length(16)
    if r.take(4) != b"ilar":
        raise _error("its inverted lists are not stored in the file")
    lists, code_size = r.unpack("QQ")
    if lists != nlist or code_size != 4 * d:
        raise _error("its inverted lists do not match it")
    sizes = _list_sizes(r, nlist)
    if sum(sizes) != ntotal:
        raise _error("its lists do not add up to its vector count")
    for n in sizes:
        r.skip_checked(n, code_size + 8)
    return d, ntotal


def _list_sizes(r: _Reader, nlist: int) -> list[int]:
    """Vectors per list: ``full`` stores every list's size, ``sprs`` (list number, size) pairs of non-empty ones."""
    kind = r.take(4)
    (n,) = r.unpack("Q")
    if n > r.left // 8:
        raise _error("it claims more data than the file holds")
    if kind == b"full" and n == nlist:
        return list(r.unpack(f"{n}Q"))
    if kind == b"sprs" and n % 2 == 0 and n // 2 <= nlist:
        pairs = r.unpack(f"{n}Q")
        numbers = pairs[0::2]
        if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)) or (numbers and numbers[-1] >= nlist):
            raise _error("its list numbers are out of order or range")
        return list(pairs[1::2])
    raise _error("its list sizes do not match its list count")


def read_header(path: Path) -> IndexHeader:
    """Walk the whole file; ``EngineError('invalid_index')`` unless it is a complete index of an accepted type."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            r = _Reader(fh, size)
            fourcc = r.take(4)
            if fourcc in _FLAT:
                d, ntotal = _flat(r, fourcc)
                kind = "flat"
            elif fourcc == _IVF_FLAT:
                d, ntotal = _ivf_flat(r)
                kind = "ivf_flat"
            else:
                raise _error("only flat and IVF-flat indexes (what RVC writes) are accepted")
    except FileNotFoundError:
        raise EngineError("invalid_index", "the faiss .index file is missing") from None
    if r.left:
        raise _error("it has trailing data")
    return IndexHeader(kind, d, ntotal)
