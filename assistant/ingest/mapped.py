"""Text that remembers where each character came from in the original review.

Cleaning (LaTeX, markup, whitespace) changes the text, but a clinician must always be able to see
the original words behind a quote. Every character of a MappedText carries the [start, end) range of
the original it was produced from, so any slice maps back to spans of the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from assistant.types import Span

_WORD = re.compile(r"[^\W_]")
_LATEX_SYMBOLS = {
    r"\alpha": "α",
    r"\beta": "β",
    r"\gamma": "γ",
    r"\geq": "≥",
    r"\ge": "≥",
    r"\leq": "≤",
    r"\le": "≤",
    r"\times": "×",
    r"\pm": "±",
    r"\%": "%",
}


@dataclass(frozen=True)
class MappedText:
    text: str
    starts: tuple[int, ...]  # original offset where the character's source begins
    ends: tuple[int, ...]  # original offset where it ends (exclusive)

    @classmethod
    def of(cls, original: str, start: int, end: int) -> MappedText:
        return cls(original[start:end], tuple(range(start, end)), tuple(range(start + 1, end + 1)))

    @classmethod
    def join(cls, parts: Iterable[MappedText], sep: str = " ") -> MappedText:
        """Join pieces with a separator that maps to the gap between them."""
        text, starts, ends = "", list[int](), list[int]()
        previous: MappedText | None = None
        for part in parts:
            if previous is not None and previous.text and part.text:
                # The separator stands for the gap, so it maps to no original text at all.
                text += sep
                starts += [previous.ends[-1]] * len(sep)
                ends += [previous.ends[-1]] * len(sep)
            text += part.text
            starts += part.starts
            ends += part.ends
            previous = part
        return cls(text, tuple(starts), tuple(ends))

    def __len__(self) -> int:
        return len(self.text)

    def slice(self, start: int, end: int) -> MappedText:
        return MappedText(self.text[start:end], self.starts[start:end], self.ends[start:end])

    def strip(self) -> MappedText:
        left = len(self.text) - len(self.text.lstrip())
        right = len(self.text.rstrip())
        return self.slice(left, right)

    def sub(self, pattern: str | re.Pattern[str], repl: str | Callable[[re.Match[str]], str]) -> MappedText:
        """Replace matches; each new character maps to the whole original range of its match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        text: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        cursor = 0
        for match in regex.finditer(self.text):
            a, b = match.span()
            text.append(self.text[cursor:a])
            starts.extend(self.starts[cursor:a])
            ends.extend(self.ends[cursor:a])
            new = repl(match) if callable(repl) else match.expand(repl)
            if a == b:
                origin_start = origin_end = self.starts[a] if a < len(self.starts) else self.ends[-1]
            else:
                origin_start, origin_end = self.starts[a], self.ends[b - 1]
            text.append(new)
            starts.extend([origin_start] * len(new))
            ends.extend([origin_end] * len(new))
            cursor = b
        text.append(self.text[cursor:])
        starts.extend(self.starts[cursor:])
        ends.extend(self.ends[cursor:])
        return MappedText("".join(text), tuple(starts), tuple(ends))

    def delete(self, pattern: str | re.Pattern[str], group: int = 0) -> MappedText:
        """Drop the characters of a group of each match; the rest keep their own mapping."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        keep = [True] * len(self.text)
        for match in regex.finditer(self.text):
            for i in range(*match.span(group)):
                keep[i] = False
        return MappedText(
            "".join(c for c, k in zip(self.text, keep, strict=True) if k),
            tuple(s for s, k in zip(self.starts, keep, strict=True) if k),
            tuple(e for e, k in zip(self.ends, keep, strict=True) if k),
        )

    def spans(self, start: int = 0, end: int | None = None, *, original: str) -> tuple[Span, ...]:
        """The original spans a slice was read from.

        Spans split only where cleaning skipped words (a footnote between two halves of a sentence),
        not where it dropped markup or spaces.
        """
        end = len(self.text) if end is None else end
        result: list[list[int]] = []
        for i in range(start, end):
            a, b = self.starts[i], self.ends[i]
            if a == b:
                continue
            if result and (a <= result[-1][1] or not _WORD.search(original, result[-1][1], a)):
                result[-1][1] = max(result[-1][1], b)
            else:
                result.append([a, b])
        return tuple(Span(start=a, end=b) for a, b in result)


def _render_latex(match: re.Match[str]) -> str:
    inner = match.group(1)
    for command, symbol in sorted(_LATEX_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        inner = re.sub(re.escape(command) + r"(?![A-Za-z])", symbol, inner)
    inner = re.sub(r"[{}]", "", inner)
    inner = re.sub(r"([≥≤×±])\s+", r"\1", inner)
    return " " + inner.strip() + " "


def clean(text: MappedText) -> MappedText:
    """Render the converter's artifacts as plain prose, keeping every character's origin."""
    text = text.sub(r"<sup>.*?</sup>", " ")
    text = text.sub(r"\$([^$\n]{1,60})\$", _render_latex)
    text = text.delete(r"\*\*")  # bold markers
    text = text.delete(r"(?<![\\\w])\*(?=\S)|(?<=\S)(?<!\\)\*(?!\w)")  # italic markers
    text = text.delete(r"(\\)[*_#\[\]]", group=1)  # escaped markup: \* -> *
    text = text.sub(r"\[([^\]]+)\]\((?:mailto:|https?://)[^)]+\)", r"\1")  # links keep their words
    text = text.delete(r"<(?=https?://)|(?<=[\w/])>")  # autolinks keep their address
    text = text.sub(r"\s+", " ")
    text = text.delete(r"(?<=\()( )|( )(?=[),;])", group=0)
    text = text.delete(r"(?<=\d)( )(?=%)", group=0)
    return text.strip()


def clean_text(text: str) -> str:
    """clean() for a string whose origin does not matter."""
    return clean(MappedText.of(text, 0, len(text))).text


_ABBREVIATIONS = frozenset(
    {"vs", "al", "e.g", "i.e", "fig", "no", "approx", "dr", "st", "ca", "etc", "et", "cf", "resp"}
)
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[A-Za-z(\[\"'“])")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Sentence [start, end) pairs, end including the final punctuation.

    A full stop ends a sentence unless the word before it is an abbreviation or an initial, so
    'vs.' and 'et al.' do not split; a lower-case start is allowed because the review has one.
    """
    bounds, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end(1)
        word = re.search(r"([\w.]+)[.!?][\"')\]]*$", text[start:end])
        previous = word.group(1).lower() if word else ""
        if previous in _ABBREVIATIONS or re.fullmatch(r"[a-z]", previous):
            continue
        bounds.append((start, end))
        start = match.end()
    if start < len(text):
        bounds.append((start, len(text.rstrip())))
    return [(a, b) for a, b in bounds if text[a:b].strip()]
