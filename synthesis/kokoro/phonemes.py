"""Text -> Kokoro tokens through espeak-ng IPA, which is how Kokoro itself reads Portuguese and Spanish."""

from __future__ import annotations

import re
import shutil

from synthesis.embedded.espeak import run_espeak
from synthesis.interfaces import EngineError

ESPEAK_IPA_VOICES = {"pt-BR": "pt-br", "es": "es", "en": "en-us"}
MAX_TOKENS = 510
_TIES = str.maketrans("", "", "\u0361\u035c")
# espeak drops punctuation and answers one line per clause; the clause marks are put back from the text.
_CLAUSE = re.compile(r"[^,;:.!?…—]+[,;:.!?…—]*")
_KEPT_MARKS = ",;:.!?…—"


def clauses(text: str) -> list[tuple[str, str]]:
    """(words, closing punctuation) per clause; ``¿¡`` and quotes are left for espeak to ignore."""
    out: list[tuple[str, str]] = []
    for m in _CLAUSE.finditer(text):
        piece = m.group(0)
        words = piece.rstrip(_KEPT_MARKS).strip()
        mark = piece[len(piece.rstrip(_KEPT_MARKS)):].strip()[:1]
        if words:
            out.append((words, mark))
        elif out and mark and not out[-1][1]:
            out[-1] = (out[-1][0], mark)
    return out


class IpaPhonemizer:
    """Runs ``espeak-ng -q --ipa`` once per piece of text; blocking (call it from a worker thread)."""

    def __init__(self, vocab: dict[str, int], executable: str | None = None) -> None:
        self._vocab = vocab
        self._executable = executable

    def check(self) -> str:
        exe = self._executable or shutil.which("espeak-ng")
        if exe is None:
            raise EngineError("engine_unavailable", "espeak-ng is not installed (the Kokoro voice reads its IPA)")
        return exe

    def ipa(self, text: str, language: str) -> str:
        voice = ESPEAK_IPA_VOICES.get(language)
        if voice is None:
            raise EngineError("unsupported_language", f"no IPA voice for language {language!r}")
        parts = clauses(text)
        if not parts:
            return ""
        # A blank line ends a clause for espeak, so its output lines align with ours; text goes through stdin.
        args = [self.check(), "-q", "--ipa", "-b", "1", "-v", voice, "--stdin"]
        stdout = run_espeak(args, "\n\n".join(w for w, _ in parts))
        lines = [line.strip().translate(_TIES) for line in stdout.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        if len(lines) == len(parts):
            return " ".join(f"{line}{mark}" for line, (_, mark) in zip(lines, parts, strict=True))
        return " ".join(lines) + (parts[-1][1] or ".")

    def tokens(self, ipa: str) -> list[int]:
        """Vocabulary ids of ``ipa``; symbols outside the vocabulary are dropped, the length capped."""
        return [self._vocab[c] for c in ipa if c in self._vocab][:MAX_TOKENS]
