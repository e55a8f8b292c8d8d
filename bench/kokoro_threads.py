"""Kokoro compute time per piece against onnxruntime intra-op threads (what ``DUBLE_KOKORO_THREADS`` should be).

Prints one JSON line per (threads, piece): median compute seconds over ``--repeat`` runs, audio seconds, real-time
factor, and the load average. Run: ``python -m bench.kokoro_threads --threads 1 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthesis.kokoro.model import SAMPLE_RATE_HZ, KokoroSynth  # noqa: E402

# Not the texts the chunk sizes were picked on, nor bench/quality.py's.
PIECES = {"first (3 words)": "Quarta-feira chove",
          "later (10 words)": "O mercado municipal fica cheio de turistas durante as férias de julho."}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "duble" / "kokoro"))
    args = p.parse_args(argv)
    for threads in args.threads:
        synth = KokoroSynth(Path(args.cache_dir), intra_op_threads=threads)
        synth.load()
        synth.synthesize("Ok.", "pt-BR", "jm_kumo")
        for name, text in PIECES.items():
            times, audio_s = [], 0.0
            for _ in range(args.repeat):
                started = time.perf_counter()
                audio = synth.synthesize(text, "pt-BR", "jm_kumo")
                times.append(time.perf_counter() - started)
                audio_s = len(audio) / SAMPLE_RATE_HZ
            median = statistics.median(times)
            print(json.dumps({"bench": "kokoro_threads", "threads": threads, "piece": name,
                              "compute_s": round(median, 3), "audio_s": round(audio_s, 2),
                              "rtf": round(median / audio_s, 3), "loadavg_1m": round(os.getloadavg()[0], 2)}),
                  flush=True)


if __name__ == "__main__":
    main()
