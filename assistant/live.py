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
from collections.abc import Sequence
from pathlib import Path

from assistant.conversation import Assistant
from assistant.errors import AssistantError
from assistant.settings import Settings
from assistant.types import Answer, ScoredPassage

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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._marker = _marker(settings.index_dir)
        self._assistant = Assistant(settings)
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

    def answer(self, messages: Sequence[str]) -> Answer:
        return self.current().answer(messages)

    def search(self, query: str, k: int | None = None, *, section: str | None = None,
               study: str | None = None) -> list[ScoredPassage]:
        return self.current().search(query, k, section=section, study=study)
