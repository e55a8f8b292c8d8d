from __future__ import annotations

import hashlib
import hmac

from billing import mp_signature

SECRET = "s3cret"
NOW = 1_742_505_638


def _header(data_id: str | None, request_id: str | None, ts: int, secret: str = SECRET) -> str:
    return mp_signature.signature_header(secret, data_id, request_id, ts)


def test_manifest_matches_the_documented_template() -> None:
    assert mp_signature.manifest("123", "req-1", "99") == "id:123;request-id:req-1;ts:99;"
    assert mp_signature.manifest("ABC", None, "99") == "id:abc;ts:99;"  # lowercased; absent parts dropped
    assert mp_signature.manifest(None, None, "99") == "ts:99;"


def test_valid_signature_computed_independently() -> None:
    expected = hmac.new(SECRET.encode(), b"id:42;request-id:r;ts:%d;" % NOW, hashlib.sha256).hexdigest()
    header = f"ts={NOW},v1={expected}"
    assert mp_signature.verify(header, "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok


def test_uppercase_data_id_in_query_is_lowercased() -> None:
    header = _header("abc12", "r", NOW)
    assert mp_signature.verify(header, "r", "ABC12", SECRET, now_s=NOW, tolerance_s=300).ok


def test_forged_and_malformed_signatures_fail() -> None:
    good = _header("42", "r", NOW)
    cases = {
        "other secret": (_header("42", "r", NOW, secret="nope"), "r", "42"),
        "other payment": (good, "r", "43"),
        "other request id": (good, "r2", "42"),
        "missing": (None, "r", "42"),
        "empty": ("  ", "r", "42"),
        "no v1": (f"ts={NOW}", "r", "42"),
        "no ts": ("v1=" + "0" * 64, "r", "42"),
        "ts not a number": (good.replace(f"ts={NOW}", "ts=abc"), "r", "42"),
        "garbage": ("garbage", "r", "42"),
    }
    for name, (header, rid, did) in cases.items():
        result = mp_signature.verify(header, rid, did, SECRET, now_s=NOW, tolerance_s=300)
        assert not result.ok, name
    assert not mp_signature.verify(good, "r", "42", "", now_s=NOW, tolerance_s=300).ok  # no secret configured


def test_stale_and_future_timestamps_fail() -> None:
    old = _header("42", "r", NOW - 301)
    assert mp_signature.verify(old, "r", "42", SECRET, now_s=NOW, tolerance_s=300).reason == "stale timestamp"
    future = _header("42", "r", NOW + 301)
    assert not mp_signature.verify(future, "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok
    edge = _header("42", "r", NOW - 300)
    assert mp_signature.verify(edge, "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok


def test_millisecond_timestamps_are_understood() -> None:
    header = _header("42", "r", NOW * 1000 + 123)
    assert mp_signature.verify(header, "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok
    stale = _header("42", "r", (NOW - 1000) * 1000)
    assert not mp_signature.verify(stale, "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok


def test_header_parts_in_any_order_with_spaces() -> None:
    sig = mp_signature.sign(SECRET, "42", "r", str(NOW))
    assert mp_signature.verify(f" v1={sig} , ts={NOW} ", "r", "42", SECRET, now_s=NOW, tolerance_s=300).ok
