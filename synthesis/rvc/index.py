"""faiss feature retrieval: blend content features toward the training set's nearest neighbours (``index_rate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthesis.interfaces import EngineError
from synthesis.rvc.index_format import read_header

_NEIGHBOURS = 8


class FeatureIndex:
    def __init__(self, index: object, vectors: npt.NDArray[np.float32]) -> None:
        self._index = index
        self._vectors = vectors

    @classmethod
    def load(cls, path: Path) -> FeatureIndex:
        import faiss

        read_header(path)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            raise EngineError("invalid_index", "the faiss .index file is not readable") from None
        if index.d != 768:
            raise EngineError("invalid_index", f"the index holds {index.d}-d vectors; RVC v2 needs 768-d")
        vectors = index.reconstruct_n(0, index.ntotal).astype(np.float32)
        return cls(index, vectors)

    @property
    def size(self) -> int:
        return int(self._vectors.shape[0])

    def blend(self, feats: npt.NDArray[np.float32], rate: float) -> npt.NDArray[np.float32]:
        """``feats`` ``[frames, 768]`` → ``rate`` · retrieved + (1 − ``rate``) · ``feats``."""
        if rate <= 0 or self.size == 0 or len(feats) == 0:
            return feats
        k = min(_NEIGHBOURS, self.size)
        dist, ix = self._index.search(np.ascontiguousarray(feats, dtype=np.float32), k)  # type: ignore[attr-defined]
        weight = np.square(1.0 / np.maximum(dist, 1e-6))
        weight /= weight.sum(axis=1, keepdims=True)
        retrieved = np.sum(self._vectors[ix] * weight[:, :, None], axis=1)
        blended: npt.NDArray[np.float32] = (rate * retrieved + (1 - rate) * feats).astype(np.float32)
        return blended


def write_index(vectors: npt.NDArray[np.float32], path: Path) -> None:
    """A flat L2 index, as small tests and tools need; trained RVC indexes are IVF but read the same way."""
    import faiss

    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))
