"""Loaded RVC models, least recently used first out; a replaced file (new mtime) is loaded again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from synthesis.interfaces import EngineError
from synthesis.rvc.inference import RVCModel


class RVCModelCache:
    def __init__(self, capacity: int = 4, *, device: str = "cpu") -> None:
        self._capacity = capacity
        self.device = device
        self._models: OrderedDict[tuple[str, int], RVCModel] = OrderedDict()
        # Loads run on worker threads; two streams of one voice must not load it twice or race the dict.
        self._lock = threading.Lock()

    def get(self, model_path: Path, index_path: Path | None = None) -> RVCModel:
        """Blocking: call from a worker thread."""
        try:
            key = (str(model_path), model_path.stat().st_mtime_ns)
        except FileNotFoundError:
            raise EngineError("invalid_model", "the RVC model file is missing") from None
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            model = RVCModel.load(model_path, index_path, device=self.device)
            self._models[key] = model
            while len(self._models) > self._capacity:
                self._models.popitem(last=False)
            return model
