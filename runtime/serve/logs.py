"""Structured logs: one JSON object per line, or plain text lines.

The server logs each inference request as the event ``"infer"`` with its
fields (model, status, batch size, latency in ms, request id) under the
``fields`` key of the record's ``extra``; :class:`JsonFormatter` writes them
as one JSON line, the plain formatter as ``key=value`` pairs.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "corrwise.serve"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: time (UTC, ISO 8601), level, logger, event, the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """A log record as ``time level logger event key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        return line + "".join(f" {k}={v}" for k, v in fields.items())


def configure_logging(as_json: bool, level: str = "info") -> None:
    """Send the server's logs (and uvicorn's) to stderr, as JSON lines or text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    for name in (LOGGER, "uvicorn", "uvicorn.error", "corrwise.runtime"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
