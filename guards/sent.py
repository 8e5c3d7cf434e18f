"""Was a failed call's request sent? A call that may have been billed is not free.

A provider bills a request it received and worked on, even when its answer never arrives: a
read timeout or a connection dropped after the request was written may be on the bill. A
failure before the request left (connection refused, DNS, a connect or pool timeout, TLS)
cannot be. The HTTP clients under LangChain's providers (openai and anthropic on httpx or
httpx2, ollama on httpx) wrap the transport error in their own (``APITimeoutError``,
``APIConnectionError``), so the cause chain is read by the transport error's class name.
"""

from __future__ import annotations

__all__ = ["unanswered_after_sending"]

# The request was written, then the answer timed out or the connection broke.
_AFTER_SENDING = {
    "ReadTimeout": "the reply timed out after the request was sent",
    "ReadError": "the connection broke after the request was sent",
    "RemoteProtocolError": "the provider closed the connection without a reply",
}
# Never (fully) left: nothing for the provider to bill.
_BEFORE_SENDING = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "PoolTimeout",
        "WriteError",
        "WriteTimeout",
        "UnsupportedProtocol",
        "LocalProtocolError",
        "ProxyError",
        "ConnectionRefusedError",
        "gaierror",
        "SSLError",
    }
)


def unanswered_after_sending(exc: BaseException) -> str | None:
    """Why ``exc`` may have been billed (the request was sent, its answer lost), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in _AFTER_SENDING:
            return _AFTER_SENDING[name]
        if name in _BEFORE_SENDING:
            return None
        current = current.__cause__ or current.__context__
    return None
