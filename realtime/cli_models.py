"""``duble models``: write tiny test models, fetch public checkpoints into the local layout the engines load.

Extending: add a builder to ``TINY_BUILDERS`` (``duble models tiny KIND``) or a ``PullSpec`` to ``CATALOG``
(``duble models pull NAME``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_MODELS_DIR = Path("models")


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    subdir: str = ""  # where under the target directory it lands (its repo path is kept below that)


@dataclass(frozen=True)
class PullSpec:
    description: str
    licence: str
    files: list[HubFile]
    default_subdir: str
    manifest: dict[str, Any] | None = None  # f5.json written next to the files
    package_files: dict[str, str] = field(default_factory=dict)  # target name -> f5_tts package resource


_VOCOS = [HubFile("charactr/vocos-mel-24khz", "config.yaml", "vocos"),
          HubFile("charactr/vocos-mel-24khz", "pytorch_model.bin", "vocos")]

CATALOG: dict[str, PullSpec] = {
    "f5-v1-base": PullSpec(
        description="official F5-TTS v1 Base (multilingual zh/en) + Vocos mel 24 kHz",
        licence="F5-TTS weights CC-BY-NC-4.0 (non-commercial: not for a paid service); Vocos MIT",
        files=[HubFile("SWivid/F5-TTS", "F5TTS_v1_Base/model_1250000.safetensors"), *_VOCOS],
        default_subdir="f5",
        manifest={"arch": "F5TTS_v1_Base", "checkpoint": "F5TTS_v1_Base/model_1250000.safetensors",
                  "vocab": "vocab.txt", "vocoder": "vocos",
                  "licence": "CC-BY-NC-4.0 (SWivid/F5-TTS); vocoder MIT (charactr/vocos-mel-24khz)"},
        package_files={"vocab.txt": "infer/examples/vocab.txt"},
    ),
    "vocos": PullSpec(
        description="Vocos mel 24 kHz vocoder only", licence="MIT", files=_VOCOS, default_subdir="f5",
    ),
    # RVC v2 content encoder in HuggingFace format (serve with --content-encoder models/rvc-base).
    "rvc-base": PullSpec(
        description="ContentVec (HuBERT base) content encoder for RVC v2, HuggingFace format",
        licence="MIT (ContentVec)",
        files=[HubFile("lengyue233/content-vec-best", "config.json"),
               HubFile("lengyue233/content-vec-best", "pytorch_model.bin")],
        default_subdir="rvc-base",
    ),
}


class PullError(Exception):
    pass


def _download(file: HubFile, target: Path) -> Path:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a runtime dependency
        raise PullError("huggingface_hub is not installed") from exc
    dest = target / file.subdir if file.subdir else target
    dest.mkdir(parents=True, exist_ok=True)
    try:
        # local_dir downloads resume from the partial file under <dest>/.cache/huggingface after an interruption.
        return Path(hf_hub_download(repo_id=file.repo_id, filename=file.filename, local_dir=str(dest)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise PullError(
            f"cannot download {file.repo_id}/{file.filename}: huggingface.co is not reachable from this machine "
            f"(offline?). Run this on a machine with internet and copy {target} here.") from exc
    except HfHubHTTPError as exc:
        raise PullError(f"cannot download {file.repo_id}/{file.filename}: {exc}") from exc
    except OSError as exc:
        raise PullError(f"cannot download {file.repo_id}/{file.filename}: {exc}") from exc


def _check_reachable(timeout_s: float = 5.0) -> None:
    """Fail at once offline, instead of after huggingface_hub's retries."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise PullError(
            f"{host} is not reachable from this machine ({exc.strerror or exc}). `duble models pull` needs internet: "
            "run it on a machine that has it and copy the directory here (or set HF_ENDPOINT to a mirror).") from exc


def pull(spec: PullSpec, target: Path) -> Path:
    if spec.files:
        _check_reachable()
    target.mkdir(parents=True, exist_ok=True)
    for name, resource in spec.package_files.items():
        shutil.copyfile(str(files("f5_tts").joinpath(resource)), target / name)
    for file in spec.files:
        _download(file, target)
    if spec.manifest is not None:
        (target / "f5.json").write_text(json.dumps(spec.manifest, indent=2) + "\n", encoding="utf-8")
    return target


def _custom_spec(args: argparse.Namespace) -> PullSpec:
    hub_files = [HubFile(args.repo, name) for name in args.file]
    checkpoint = next((n for n in args.file if n.endswith((".safetensors", ".pt"))), None)
    if checkpoint is None:
        raise PullError("--file must include the checkpoint (.safetensors or .pt)")
    manifest: dict[str, Any] = {"arch": args.arch, "checkpoint": checkpoint, "licence": args.licence}
    if args.vocab_file:
        hub_files.append(HubFile(args.repo, args.vocab_file))
        manifest["vocab"] = args.vocab_file
    return PullSpec(f"{args.repo} (custom)", args.licence, hub_files, "f5", manifest)


def _cmd_pull(args: argparse.Namespace) -> int:
    try:
        if args.repo:
            spec = _custom_spec(args)
        elif args.name in CATALOG:
            spec = CATALOG[args.name]
        else:
            known = ", ".join(sorted(CATALOG))
            raise PullError(f"unknown model {args.name!r}; known: {known} (or use --repo/--file)")
        target = args.out or DEFAULT_MODELS_DIR / spec.default_subdir
        if args.language:
            target = target / args.language
        print(f"pulling {spec.description} into {target}\nlicence: {spec.licence}", file=sys.stderr)
        pull(spec, target)
    except PullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(str(target))
    return 0


def _cmd_list(_: argparse.Namespace) -> int:
    for name, spec in sorted(CATALOG.items()):
        print(f"{name:14} {spec.description}  [licence: {spec.licence}]")
    return 0


def _tiny_f5(out: Path, args: argparse.Namespace) -> Path:
    from synthesis.f5.tiny import write_tiny_f5

    return write_tiny_f5(out, fmt=args.format, seed=args.seed)


def _tiny_rvc(out: Path, args: argparse.Namespace) -> Path:
    from synthesis.rvc.tiny import write_tiny_rvc

    write_tiny_rvc(out, sample_rate_hz=args.sample_rate, seed=args.seed)
    return out


TINY_BUILDERS: dict[str, Callable[[Path, argparse.Namespace], Path]] = {"f5": _tiny_f5, "rvc": _tiny_rvc}


def _cmd_tiny(args: argparse.Namespace) -> int:
    out = TINY_BUILDERS[args.kind](args.out, args)
    print(str(out))
    return 0


def add_models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="write tiny test models or fetch public checkpoints")
    msub = models.add_subparsers(dest="models_command", required=True)

    tiny = msub.add_parser("tiny", help="write a tiny random model set in the real formats (tests, benchmarks)")
    tiny.add_argument("kind", choices=sorted(TINY_BUILDERS))
    tiny.add_argument("--out", type=Path, required=True)
    tiny.add_argument("--format", choices=["safetensors", "pt"], default="safetensors")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--sample-rate", type=int, choices=[32000, 40000, 48000], default=40000, help="rvc only")
    tiny.set_defaults(func=_cmd_tiny)

    pull_p = msub.add_parser("pull", help="download a public checkpoint (needs internet; resumes)")
    pull_p.add_argument("name", nargs="?", default="", help=f"one of: {', '.join(sorted(CATALOG))}")
    pull_p.add_argument("--out", type=Path, help=f"target directory (default {DEFAULT_MODELS_DIR}/<kind>)")
    pull_p.add_argument("--language", help="put it in <out>/<language>/ (a per-language F5 model set)")
    pull_p.add_argument("--repo", help="custom Hugging Face repo (a fine-tune), with --file")
    pull_p.add_argument("--file", action="append", default=[], help="file in --repo (repeatable)")
    pull_p.add_argument("--vocab-file", help="vocab file in --repo")
    pull_p.add_argument("--arch", default="F5TTS_v1_Base", help="f5-tts config name of the fine-tune's base")
    pull_p.add_argument("--licence", default="see the model card", help="licence recorded in f5.json")
    pull_p.set_defaults(func=_cmd_pull)

    list_p = msub.add_parser("list", help="models known to `duble models pull`")
    list_p.set_defaults(func=_cmd_list)
