"""The error tree. Every subclass of AssistantError is an expected failure whose message is safe to
show to a user: it names the problem and what to do, and never echoes patient text.

AssistantError
├── CorpusError      the review, a card, a rule or the provenance file is missing or breaks its schema
├── IndexNotReady    no index, a broken one, or one built from another corpus version
│   └── VectorStoreError  Chroma cannot open or answer (damaged store, unreachable server)
└── InputRejected    empty, oversized, binary or markup-only input
"""

from __future__ import annotations


class AssistantError(Exception):
    """A failure the user can act on; surfaces print str(exc) and never a traceback."""


class CorpusError(AssistantError):
    """A corpus file cannot be used; the message names the file (and the entry) at fault."""


class IndexNotReady(AssistantError):
    """The index is missing, unreadable or stale; the message says which command repairs it."""


class InputRejected(AssistantError):
    """The input cannot be processed as a question; the message says why, without quoting it."""


class VectorStoreError(IndexNotReady):
    """Chroma failed to open or answer (a damaged file, an unreachable server); chromadb's own error is not shown."""
