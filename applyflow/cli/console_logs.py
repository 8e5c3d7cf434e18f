"""Prefect's console output as the CLI shows it: one line per failure, never a traceback.

Prefect's console handler prints a failed task or flow run with its whole traceback, then a
"Finished in state Failed" line (a provider outage gave 288 lines for 2 jobs). The CLI wraps
that handler's formatter so each record is its first line, without ``exc_info``, and drops the
state line; Prefect's API handler is left alone, so the Prefect UI keeps every traceback. With
``APPLYFLOW_DEBUG=1`` the console is left as Prefect made it.
"""

from __future__ import annotations

import logging
import os

from applyflow.cli._app import DEBUG_ENV

__all__ = ["OneLineFormatter", "drop_failed_state", "quiet_console"]


class OneLineFormatter(logging.Formatter):
    """``inner``'s text of a record without its traceback or stack, cut to its first line."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        # The record is shared with the other handlers: hide its traceback only while this
        # formatter reads it (handlers of one record run one after another, on one thread).
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            text = self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        first, _, rest = text.strip().partition("\n")
        hidden = bool(rest or saved[0] or saved[2])
        return f"{first} (traceback: Prefect UI, or APPLYFLOW_DEBUG=1)" if hidden else first


def drop_failed_state(record: logging.LogRecord) -> bool:
    """False for Prefect's "Finished in state Failed(...)" line of a task or flow run: the
    exception line before it already said what failed."""
    return not (
        record.levelno >= logging.ERROR and record.getMessage().startswith("Finished in state")
    )


def quiet_console() -> None:
    """Make every Prefect console handler one line per record (unless APPLYFLOW_DEBUG is set).

    Call after Prefect has configured logging (importing ``prefect`` does); calling again is a
    no-op.
    """
    if os.environ.get(DEBUG_ENV):
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    names = [None, *logging.root.manager.loggerDict]
    for name in names:
        logger = logging.getLogger(name)
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(
                handler.formatter, OneLineFormatter
            ):
                handler.setFormatter(OneLineFormatter(handler.formatter))
                handler.addFilter(drop_failed_state)
