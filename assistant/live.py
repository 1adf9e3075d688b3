"""An Assistant that follows the index's CURRENT build, for long-running servers.

`index build` switches CURRENT atomically; a server holding a LiveAssistant answers from the new
build on its next request, without a restart. The check is one stat() of CURRENT per call. The new
build is opened by the first request that notices the change while every other request keeps
answering from the old one, which stays usable even after its folder is removed: its texts are in
memory and its vectors in a private copy (assistant/index.py).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.conversation import Assistant
from assistant.errors import AssistantError
from assistant.settings import Settings
from assistant.types import Answer, Reference, ScoredPassage

if TYPE_CHECKING:
    from assistant.decide import Rule
    from assistant.index import LoadedIndex

log = logging.getLogger(__name__)

Marker = tuple[int, int, int] | None


def _marker(index_dir: Path) -> Marker:
    """Identity of the CURRENT file: os.replace gives a new inode, so any switch changes it."""
    try:
        stat = os.stat(index_dir / "CURRENT")
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class LiveAssistant:
    """Thread-safe holder of the Assistant for the current build; call `current()` per request."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None, *, warm_up: bool = True) -> None:
        """`assistant`: one already opened on the build CURRENT names (a server's tests share theirs).

        `warm_up`: a new build is warmed (model loaded, one answer) before it takes requests.
        """
        self.settings = settings
        self._marker = _marker(settings.index_dir)
        self._assistant = assistant if assistant is not None else Assistant(settings)
        self._warm_up = warm_up
        self._reloading = threading.Lock()
        self._failed: Marker = None  # a CURRENT that could not be opened is not retried on every request

    def current(self) -> Assistant:
        """The Assistant of the build CURRENT names (reopened once when it changed)."""
        marker = _marker(self.settings.index_dir)
        if marker == self._marker or marker == self._failed or marker is None:
            return self._assistant
        if not self._reloading.acquire(blocking=False):
            return self._assistant  # another request is opening the new build; this one uses the old
        try:
            if marker != self._marker:
                self._switch(marker)
        finally:
            self._reloading.release()
        return self._assistant

    def _switch(self, marker: Marker) -> None:
        try:
            fresh = Assistant(self.settings)
            if self._warm_up:
                fresh.warm_up()
        except AssistantError as exc:
            self._failed = marker
            log.warning("index switch refused, still serving %s: %s", self._assistant.index.build.name, exc)
            return
        old = self._assistant.index.build.name
        self._assistant, self._marker = fresh, marker
        log.info("index switched from %s to %s", old, fresh.index.build.name)

    @property
    def corpus_version(self) -> str:
        return self.current().corpus_version

    @property
    def index(self) -> LoadedIndex:
        return self.current().index

    @property
    def rules(self) -> Sequence[Rule]:
        return self.current().rules

    @property
    def references(self) -> Mapping[int, Reference]:
        """The review's references by number, always those of the build that answers now."""
        return _LiveReferences(self)

    def warm_up(self) -> None:
        self.current().warm_up()

    def answer(self, messages: Sequence[str]) -> Answer:
        return self.current().answer(messages)

    def search(self, query: str, k: int | None = None, *, section: str | None = None,
               study: str | None = None) -> list[ScoredPassage]:
        return self.current().search(query, k, section=section, study=study)


class _LiveReferences(Mapping[int, Reference]):
    """A read-only view of the current build's references: a switch needs no one to refresh a copy."""

    def __init__(self, live: LiveAssistant) -> None:
        self._live = live
        self._of: Assistant | None = None
        self._table_of: dict[int, Reference] = {}

    def _table(self) -> dict[int, Reference]:
        current = self._live.current()
        if current is not self._of:  # two threads may both rebuild it: same result, no lock needed
            self._table_of = {r.number: r for r in current.index.review.references}
            self._of = current
        return self._table_of

    def __getitem__(self, number: int) -> Reference:
        return self._table()[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())
