"""Token estimates the budget reserves on before a call: deliberately high, no tokenizer
download (tiktoken fetches its encodings at run time)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately
from pydantic import BaseModel

__all__ = ["estimate_input_tokens", "estimate_schema_tokens", "message_text"]

# Fewer characters per token than the usual 4 makes the input estimate err on the high side,
# so the reservation covers the real bill for code, numbers and non-English text too.
_CHARS_PER_TOKEN = 3.0
_WIDE = re.compile(r"[^\x00-\u02ff]+")  # runs of characters above U+02FF


def estimate_input_tokens(messages: Sequence[BaseMessage]) -> int:
    """A deliberately high approximation of the prompt's tokens (no tokenizer download)."""
    base = count_tokens_approximately(messages, chars_per_token=_CHARS_PER_TOKEN)
    # CJK text and emoji run close to a token per character: count each such character again.
    wide = 0
    for m in messages:
        text = message_text(m)
        if not text.isascii():  # the common case costs one C-level scan
            wide += sum(map(len, _WIDE.findall(text)))
    return base + wide


@lru_cache(maxsize=64)
def estimate_schema_tokens(schema: type[BaseModel]) -> int:
    """The same approximation for a reply schema sent with the request (``response_format`` or
    a tool), which the provider bills as prompt tokens too."""
    text = json.dumps(schema.model_json_schema(), separators=(",", ":"))
    return count_tokens_approximately([HumanMessage(text)], chars_per_token=_CHARS_PER_TOKEN)


def message_text(message: BaseMessage) -> str:
    """A message's text: its string content, or its text parts joined."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)
