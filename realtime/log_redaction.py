"""Keeps API keys out of server logs (browsers pass them in the WebSocket query string)."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"((?:api_key|token|access_token)=)[^&\s\"']+", re.IGNORECASE)
_KEY_LITERAL = re.compile(r"dbl_[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    return _KEY_LITERAL.sub("dbl_***", _SECRET_QUERY.sub(r"\1***", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Formatters (uvicorn's access formatter) read the args tuple itself, so its shape must stay.
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install(logger_names: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    for name in logger_names:
        logging.getLogger(name).addFilter(RedactSecrets())
