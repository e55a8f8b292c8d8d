"""F5-TTS voice cloning behind the TTSEngine interface (engine.py), with its tiny test model set (tiny.py)."""
