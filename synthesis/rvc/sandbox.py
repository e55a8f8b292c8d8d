"""Validate an untrusted RVC model in a child process with a memory cap, a CPU limit and a deadline.

The child loads the ``.pth`` (and ``.index``), builds the synthesizer and runs a short forward pass; whatever it
does — a MemoryError, a crash in native code, an endless loop — ends the child, never the caller.

Run as ``python -m synthesis.rvc.sandbox MODEL [INDEX] --memory-bytes N``: prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from synthesis.interfaces import EngineError

_PROBE_FRAMES = 20
CPU_LIMIT_S = 60
"""CPU seconds the check may use after its imports; a real v2 model needs a few."""
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_OUT_OF_MEMORY = {"ok": False, "code": "invalid_model", "message": "the RVC model needs more memory than allowed"}


def _virtual_memory_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _cap_resources(extra_bytes: int, cpu_s: int) -> None:
    """Address space: what the imports already mapped plus ``extra_bytes``; CPU: what they used plus ``cpu_s``."""
    import resource

    limit = _virtual_memory_bytes() + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_limit = int(used.ru_utime + used.ru_stime) + cpu_s
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_limit + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _probe(model_path: Path, index_path: Path | None, memory_bytes: int) -> dict[str, Any]:
    import faiss  # noqa: F401  (imported before the cap: its libraries map much address space)
    import numpy as np
    import torch

    from synthesis.rvc.checkpoint import load_rvc_model
    from synthesis.rvc.index import FeatureIndex

    torch.set_num_threads(1)
    _cap_resources(memory_bytes, CPU_LIMIT_S)
    net, info = load_rvc_model(model_path)
    phone = torch.randn(1, _PROBE_FRAMES, 768)
    pitch = torch.full((1, _PROBE_FRAMES), 100, dtype=torch.long)
    f0 = torch.full((1, _PROBE_FRAMES), 200.0)
    audio = net.infer(phone, pitch, f0)
    if not bool(torch.isfinite(audio).all()):
        raise EngineError("invalid_model", "the RVC model produces invalid samples (NaN or infinite weights?)")
    if index_path is not None:
        index = FeatureIndex.load(index_path)
        if not np.isfinite(index.blend(phone[0].numpy(), 1.0)).all():
            raise EngineError("invalid_index", "the faiss index holds invalid vectors")
    return {"ok": True, "sample_rate_hz": info.sample_rate_hz, "use_f0": info.use_f0}


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("index", type=Path, nargs="?")
    parser.add_argument("--memory-bytes", type=int, required=True)
    args = parser.parse_args()
    try:
        result = _probe(args.model, args.index, args.memory_bytes)
    except EngineError as exc:
        result = {"ok": False, "code": exc.code, "message": exc.message}
    except MemoryError:
        result = _OUT_OF_MEMORY
    except Exception as exc:  # a hostile file may make any library code fail; the verdict is the same
        result = _OUT_OF_MEMORY if "alloc" in str(exc).lower() else {
            "ok": False, "code": "invalid_model", "message": f"the RVC model could not be run ({type(exc).__name__})"}
    print(json.dumps(result), flush=True)


async def validate_in_child(model_path: Path, index_path: Path | None, *, timeout_s: float,
                            memory_bytes: int) -> tuple[int, bool]:
    """``(sample_rate_hz, use_f0)`` or ``EngineError``; the child is killed on timeout or cancellation.

    The child's own CPU limit (``CPU_LIMIT_S``) catches a model that computes too long: ``invalid_model``. The wall
    clock ``timeout_s`` only runs out on an overloaded machine: a retryable ``busy``.
    """
    args = [str(model_path), *([str(index_path)] if index_path is not None else []), "--memory-bytes",
            str(memory_bytes)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "synthesis.rvc.sandbox", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(timeout_s):
            stdout, _ = await proc.communicate()
    except TimeoutError:
        raise EngineError("busy", "the server is too busy to check the model now; try again shortly",
                          retryable=True) from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
    return _verdict(stdout, proc.returncode)


def _verdict(stdout: bytes, returncode: int | None) -> tuple[int, bool]:
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if not isinstance(result, dict) or "ok" not in result:
        limit = "CPU" if returncode in (-signal.SIGXCPU, -signal.SIGKILL) else "memory"
        raise EngineError("invalid_model", f"the RVC model could not be checked within the {limit} limit "
                          f"(the check exited with {returncode})")
    if not result["ok"]:
        raise EngineError(str(result.get("code", "invalid_model")), str(result.get("message", "invalid model")))
    return int(result["sample_rate_hz"]), bool(result["use_f0"])


if __name__ == "__main__":
    _main()
