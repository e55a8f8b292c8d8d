"""Kokoro-82M (int8 ONNX, Apache-2.0 weights) speaking espeak-ng IPA: the embedded neural voice for pt-BR and es."""
