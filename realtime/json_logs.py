"""Structured logs: one JSON object per line, with the request id and (once known) the session id.

Messages pass through ``log_redaction.redact``; log calls in this codebase never carry text, audio, keys, tokens or
payment payloads as arguments, and the access log keeps the path with secrets in its query string masked.
"""

from __future__ import annotations

import json
import logging
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from realtime.log_redaction import redact

# Fields a log call may pass with ``extra=``; nothing else from a record is written.
_EXTRA_FIELDS = ("kind", "duration_s", "code")


@dataclass(slots=True)
class LogContext:
    """Set per connection by the session observer; child tasks share the object, so the session id found later
    reaches their lines too."""

    request_id: str
    session_id: str | None = None


log_context: ContextVar[LogContext | None] = ContextVar("duble_log_context", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _, status = record.args
            out.update(event="access", client=str(client), method=str(method), path=redact(str(path)),
                       status=status)
        else:
            out["message"] = redact(record.getMessage())
        for name in _EXTRA_FIELDS:
            if (value := record.__dict__.get(name)) is not None:
                out[name] = value
        context = log_context.get()
        if context is not None:
            out["request_id"] = context.request_id
            if context.session_id is not None:
                out["session_id"] = context.session_id
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the app: everything as JSON lines on stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": True},
        },
    }
