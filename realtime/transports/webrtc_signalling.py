"""Signalling messages of ``/v1/webrtc/signal``, checked with explicit bounds before aiortc sees any of them.

aiortc trusts its input: an SDP with a video section, hundreds of m-lines, or a candidate whose address or port is
out of range reaches code that raises deep inside a task (or allocates per line). Everything it is given passes here
first and is refused with a specific ``error`` code instead.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from realtime.transports.ws_common import ClientMessageError, describe_validation, validate

MAX_CANDIDATE_CHARS = 1024
MAX_SDP_LINE_CHARS = 4096
# Browsers hide host addresses behind a random mDNS name (RFC 8445 section 5.1.1.1, draft-ietf-mmusic-mdns-ice).
_MDNS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}\.local")
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
_CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
_TCP_TYPES = frozenset({"active", "passive", "so"})
_SDP_LINE = re.compile(r"[a-z]=[^\x00-\x08\x0a-\x1f\x7f]*")


class OfferMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["offer"]
    sdp: StrictStr


class CandidateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # browsers add usernameFragment
    type: Literal["candidate"]
    candidate: StrictStr = Field(default="", max_length=MAX_CANDIDATE_CHARS)
    sdpMid: StrictStr | None = Field(default=None, max_length=32)  # noqa: N815 (the browser's field name)
    sdpMLineIndex: StrictInt | None = Field(default=None, ge=0, le=0)  # noqa: N815 (one m-line only)


def check_offer(sdp: str, max_bytes: int) -> None:
    """Refuse an offer that is too large, not line-structured SDP, or not exactly one audio m-line; check the
    candidates inside it like trickled ones."""
    if len(sdp) > max_bytes or len(sdp.encode()) > max_bytes:
        raise ClientMessageError("sdp_too_large", f"the SDP offer is larger than {max_bytes} bytes")
    lines = [ln for ln in sdp.replace("\r\n", "\n").split("\n") if ln]
    if not lines or lines[0] != "v=0":
        raise ClientMessageError("invalid_sdp", "the offer is not SDP (it must start with v=0)")
    for ln in lines:
        if len(ln) > MAX_SDP_LINE_CHARS or not _SDP_LINE.fullmatch(ln):
            raise ClientMessageError("invalid_sdp", "the offer has a line that is not SDP")
    media = [ln.split(" ", 1)[0].removeprefix("m=") for ln in lines if ln.startswith("m=")]
    if media != ["audio"]:
        found = ", ".join(media[:4]) + (", …" if len(media) > 4 else "") if media else "none"
        raise ClientMessageError("invalid_offer",
                                 f"the offer must have exactly one audio m-line; it has {len(media)} ({found})")
    if not any(ln.startswith("a=fingerprint:") for ln in lines):
        raise ClientMessageError("invalid_offer", "the offer has no DTLS fingerprint (a=fingerprint)")
    for ln in lines:
        if ln.startswith("a=candidate:"):
            check_candidate(ln.removeprefix("a="))


def parse_candidate_message(data: dict[str, object]) -> CandidateMessage:
    try:
        return CandidateMessage.model_validate(data)
    except ValidationError as exc:
        raise ClientMessageError("invalid_candidate", describe_validation(exc)) from None


def check_candidate(text: str) -> str:
    """The candidate attribute (``foundation component transport priority address port typ type …``) without its
    ``candidate:`` prefix, once every field is in range; ``invalid_candidate`` otherwise."""
    line = text.strip().removeprefix("candidate:")
    fields = line.split(" ")
    if len(fields) < 8 or len(fields) % 2:
        raise _bad("it needs foundation, component, transport, priority, address, port and 'typ <type>'")
    foundation, component, transport, priority, address, port, typ, kind = fields[:8]
    if not _FOUNDATION.fullmatch(foundation):
        raise _bad("bad foundation")
    if _integer(component, 1, 256) is None:
        raise _bad("component must be 1-256")
    if transport.lower() not in ("udp", "tcp"):
        raise _bad("transport must be udp or tcp")
    if _integer(priority, 0, 2**32 - 1) is None:
        raise _bad("priority must be 0-4294967295")
    if not _is_address(address):
        raise _bad("the address is not an IP address")
    if _integer(port, 1, 65535) is None:
        raise _bad("port must be 1-65535")
    if typ != "typ" or kind not in _CANDIDATE_TYPES:
        raise _bad("type must be host, srflx, prflx or relay")
    extras = dict(zip(fields[8::2], fields[9::2], strict=True))
    if "raddr" in extras and not _is_address(extras["raddr"]):
        raise _bad("raddr is not an IP address")
    if "rport" in extras and _integer(extras["rport"], 0, 65535) is None:
        raise _bad("rport must be 0-65535")
    if "tcptype" in extras and extras["tcptype"] not in _TCP_TYPES:
        raise _bad("tcptype must be active, passive or so")
    if "generation" in extras and _integer(extras["generation"], 0, 2**32 - 1) is None:
        raise _bad("bad generation")
    return line


def _bad(why: str) -> ClientMessageError:
    return ClientMessageError("invalid_candidate", f"unusable ICE candidate: {why}")


def _integer(text: str, low: int, high: int) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _is_address(text: str) -> bool:
    if _MDNS_NAME.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_offer(data: dict[str, object], max_bytes: int) -> OfferMessage:
    msg = validate(OfferMessage, data)
    check_offer(msg.sdp, max_bytes)
    return msg
