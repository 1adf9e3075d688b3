"""Text from a terminal or a request, made safe to read and to echo, before any stage sees it.

Invalid UTF-8 arrives in Python as lone surrogates (surrogateescape), which the tokenizer and every
encoder refuse; terminal control sequences (ESC c resets the screen, CSI moves the cursor, OSC sets
the window title or a hyperlink) would act on the user's terminal when an answer repeats a word.
Both are removed here, at the surface, so nothing downstream can echo them. NUL and other C0
controls are kept: they mark binary input, which understanding rejects with its own message.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

from assistant.errors import InputRejected
from assistant.settings import Settings

REPLACEMENT = "\ufffd"

_SURROGATES = re.compile(r"[\ud800-\udfff]")
# ECMA-48: CSI (ESC [ or 8-bit 0x9b) parameters, intermediates, one final byte; OSC, DCS, SOS, PM, APC
# strings up to BEL or ST (ESC \ or 0x9c), or to the end of the text when unterminated; other ESC
# sequences (ESC c, ESC 7, ESC ( B); then any C1 control and DEL left over.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
    r"|[\x80-\x9f\x7f]"
)


def _c1_or_replacement(error: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: a stray byte 0x80-0x9f is the 8-bit control it means to a terminal
    (0x9b is CSI), so the escape patterns can remove its whole sequence; any other invalid byte is U+FFFD."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start:error.end]
    return "".join(chr(b) if 0x80 <= b <= 0x9F else REPLACEMENT for b in bad), error.end


codecs.register_error("assistant-c1", _c1_or_replacement)


def clean_text(text: str) -> str:
    """The text with invalid bytes as U+FFFD and every terminal control sequence removed."""
    if _SURROGATES.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "assistant-c1")
        text = _SURROGATES.sub(REPLACEMENT, text)  # surrogates that were never bytes
    return _ESCAPES.sub("", text)


def from_bytes(data: bytes) -> str:
    """Bytes read from a pipe or a file, decoded as UTF-8 (invalid bytes as U+FFFD), then cleaned."""
    return clean_text(data.decode("utf-8", "assistant-c1"))


def check_question(text: str) -> str:
    """A one-off question (the `ask` command): cleaned; InputRejected when nothing is left to read."""
    cleaned = clean_text(text)
    if not cleaned.strip():
        raise InputRejected("The question is empty; type a question about the review.")
    if cleaned.count(REPLACEMENT) > max(2, len(cleaned) // 10):
        raise InputRejected("The question is not valid UTF-8 text (binary data?); send plain text.")
    return cleaned


def check_conversation(messages: Sequence[str], settings: Settings) -> None:
    """InputRejected when a conversation is past its caps on turns or total size: it says to start over.

    Every turn replays the whole conversation, so an uncapped one gets slower with each message.
    """
    if len(messages) > settings.max_turns:
        raise InputRejected(f"This conversation has reached its limit of {settings.max_turns} messages. "
                            "Start a new conversation ('new') and describe the patient again.")
    total = sum(len(m) for m in messages)
    if total > settings.max_conversation_chars:
        raise InputRejected(f"This conversation holds {total:,} characters; the limit is "
                            f"{settings.max_conversation_chars:,}. Start a new conversation ('new') "
                            "and describe the patient in a few sentences.")
