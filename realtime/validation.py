"""Text fields that come from outside and may be stored, checked once at the edge for every REST body, form field,
query parameter and WebSocket message.

PostgreSQL refuses NUL in ``text`` and anything that is not valid UTF-8 (a lone surrogate cannot be encoded), so
such a value must be refused before it is accepted, never discovered when it is written. Control characters
(C0, DEL, C1) are refused too: they have no place in a label and make logs and pages lie. Multi-line fields may hold
tab and newline (CR LF becomes LF). Values are trimmed; a value that is only spaces is refused, not stored as ``""``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTILINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe(found: str) -> str:
    code = ord(found)
    if 0xD800 <= code <= 0xDFFF:
        return f"an unpaired surrogate (U+{code:04X})"
    return f"a control character (U+{code:04X})"


def check_line(value: str) -> str:
    """A single-line value: no control characters at all, no lone surrogates."""
    if (found := _LINE_FORBIDDEN.search(value)) is not None:
        raise ValueError(f"must not contain {_describe(found.group())}")
    return value


def check_multiline(value: str) -> str:
    """A multi-line value: tab and newline allowed (CR LF and lone CR become LF), other controls refused."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if (found := _MULTILINE_FORBIDDEN.search(value)) is not None:
        raise ValueError(f"must not contain {_describe(found.group())}")
    return value


def _nonblank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty or only spaces")
    return value


# Trimmed before the length check: surrounding spaces neither count nor get stored.
Tag = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(check_line),
                AfterValidator(_nonblank)]
VoiceName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(check_line),
                      AfterValidator(_nonblank)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(check_line),
                  AfterValidator(_nonblank)]
# Plan names, idempotency keys and similar identifiers chosen by the client.
Key = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(check_line),
                AfterValidator(_nonblank)]
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=EMAIL_PATTERN),
                  AfterValidator(check_line)]
# Empty after trimming means "none given" for optional multi-line text: the caller maps "" to None.
ReferenceText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000),
                          AfterValidator(check_multiline)]
