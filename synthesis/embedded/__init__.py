"""Engines that run on any machine with no downloaded weights: espeak-ng, Piper, and the WORLD voice matcher."""
