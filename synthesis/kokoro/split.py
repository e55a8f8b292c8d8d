"""The stream's opening piece decoded in two runs, so its first audio comes after a fraction of its compute.

The opening run covers the first ~0.25 s of speech (18 frames: ~0.3 s of compute on 2 cores); the rest of the piece
is decoded (with frames of context before the cut) while that plays, and the two are cross-faded over the opening's
look-ahead frame. Decoding a stretch of frames on its own is not quite the whole decode (the vocoder normalises over
the frames it is given), so only the opening of a stream is cut: every later piece is decoded whole.
"""

from __future__ import annotations

import numpy as np

from synthesis.interfaces import Samples
from synthesis.kokoro.model import (
    FRAME_SAMPLES,
    Cancellation,
    KokoroSynth,
    Utterance,
    trim_leading,
    trim_trailing,
)

OPENING_FRAMES = 14
OPENING_RIGHT = 3  # look-ahead frames the opening run is decoded with
REST_LEFT = 12  # context frames the rest is decoded with
MIN_REST_FRAMES = 8  # a piece with less than this after the opening is decoded whole
CUT_SEARCH = 3  # the cut moves to the quietest frame this close to OPENING_FRAMES
CROSSFADE = 480


class SplitPiece:
    """``opening()`` then ``rest()``, each one blocking worker job; ``rest`` returns nothing when the piece was too
    short to cut (``opening`` then held all of it)."""

    def __init__(self, synth: KokoroSynth, text: str, language: str, pack: str, *, speed: float,
                 cancellation: Cancellation) -> None:
        self._synth = synth
        self._text, self._language, self._pack, self._speed = text, language, pack, speed
        self._cancellation = cancellation
        self._utt: Utterance | None = None
        self._cut = 0
        self._overlap: Samples = np.zeros(0, dtype=np.float32)
        self.spoke = False

    def opening(self) -> Samples:
        synth = self._synth
        utt = synth.prepare(self._text, self._language, self._pack, speed=self._speed,
                            cancellation=self._cancellation)
        if utt is None:
            return np.zeros(0, dtype=np.float32)
        if utt.tempo != 1.0 or utt.end - utt.start < OPENING_FRAMES + MIN_REST_FRAMES:
            audio = synth.render(utt, cancellation=self._cancellation)
            self.spoke = len(audio) > 0
            return audio
        cut = utt.quietest(utt.start + OPENING_FRAMES, CUT_SEARCH)
        audio = synth.decode(utt, utt.start, cut + 1, right=OPENING_RIGHT, cancellation=self._cancellation)
        if len(audio) < (cut + 1 - utt.start) * FRAME_SAMPLES:
            return np.zeros(0, dtype=np.float32)  # cancelled
        head = trim_leading(audio[: len(audio) - FRAME_SAMPLES])
        self._utt, self._cut, self._overlap = utt, cut, audio[len(audio) - FRAME_SAMPLES :][:CROSSFADE]
        self.spoke = len(head) > 0
        return head

    def rest(self) -> Samples:
        utt = self._utt
        if utt is None:
            return np.zeros(0, dtype=np.float32)
        audio = self._synth.decode(utt, self._cut, utt.end, left=REST_LEFT, cancellation=self._cancellation)
        n = min(len(audio), len(self._overlap))
        if n:
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            audio = audio.copy()
            audio[:n] = self._overlap[:n] * (1.0 - ramp) + audio[:n] * ramp
        return trim_trailing(audio)
