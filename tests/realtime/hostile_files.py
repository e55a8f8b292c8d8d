"""Small files that claim much: crafted byte by byte, as an attacker would upload them."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import torch

# A real v2 40k config with hidden_channels and upsample_initial_channel blown up.
HUGE_CONFIG = [1025, 32, 192, 100_000, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [10, 10, 2, 2],
               1 << 20, [16, 16, 4, 4], 109, 256, 40000]


def huge_config_pth() -> bytes:
    """A ~2 KB RVC checkpoint whose config asks for layers of gigabytes."""
    buf = io.BytesIO()
    torch.save({"weight": {"emb_g.weight": torch.zeros(1, 4, dtype=torch.float16)}, "config": HUGE_CONFIG,
                "f0": 1, "version": "v2", "sr": "40k", "info": ""}, buf)
    return buf.getvalue()


def huge_faiss_header(vectors: int = 1 << 29) -> bytes:
    """61 bytes: an ``IndexFlatL2`` header claiming ``vectors`` 768-d vectors (1.5 TiB at the default)."""
    d = 768
    header = b"IxF2" + struct.pack("<iqqqBi", d, vectors, 1 << 20, 1 << 20, 1, 1)
    return header + struct.pack("<Q", vectors * d) + bytes(16)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _flac_frame(number: int) -> bytes:
    # Sync + fixed block size; block size from a 16-bit field (65535 samples), rate from STREAMINFO; mono, 16 bit.
    header = bytes([0xFF, 0xF8, 0x70, 0x08, number]) + struct.pack(">H", 65534)
    header += bytes([_crc8(header)])
    frame = header + b"\x00" + struct.pack(">h", 4096)  # one CONSTANT subframe
    return frame + struct.pack(">H", _crc16(frame))


def slow_rate_flac(rate_hz: int = 8) -> bytes:
    """68 bytes: FLAC declaring ``rate_hz`` and 2^36 - 1 samples, two frames of 65535 samples (2.3 h each at 8 Hz)."""
    bits = (rate_hz << 44) | (0 << 41) | (15 << 36) | ((1 << 36) - 1)
    info = struct.pack(">HH", 16, 65535) + bytes(6) + bits.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info + _flac_frame(0) + _flac_frame(1)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def fuzz_pth_files(real_model: Path, seed: int = 8) -> list[tuple[str, bytes]]:
    """80 hostile ``.pth`` files of about 1 KB: random bytes, zip-like junk, truncated real models, odd archives."""
    rng = random.Random(seed)
    real = real_model.read_bytes()
    files: list[tuple[str, bytes]] = []
    files += [("random", rng.randbytes(1024)) for _ in range(30)]
    files += [("zip-like", b"PK\x03\x04" + rng.randbytes(1020)) for _ in range(20)]
    files += [("truncated", real[:rng.randrange(1, min(len(real), 4096))]) for _ in range(12)]
    files += [("truncated-tail", real[:len(real) - rng.randrange(1, 1024)]) for _ in range(10)]
    files += [("deflated", _zip({"archive/data.pkl": bytes(50_000_000)}, zipfile.ZIP_DEFLATED))] * 2
    files += [("no-pickle", _zip({"archive/version": b"3\n"}))]
    files += [("random-pickle", _zip({"archive/data.pkl": rng.randbytes(1024), "archive/version": b"3\n"}))
              for _ in range(3)]
    files += [("pickle-of-int", _zip({"archive/data.pkl": b"\x80\x02K\x05.", "archive/version": b"3\n"}))]
    files += [("huge-config", huge_config_pth())]
    assert len(files) == 80
    return files
