"""medspaCy's ConText without the parts of medspaCy the project does not use.

`import medspacy` imports every component it ships, among them QuickUMLS, which imports NLTK and SciPy: about half
of medspaCy's import time (4 of 8.5 s measured on this machine under load, 2 of 4 s quiet), paid by every cold
`assistant ask`. The project uses ConText only, and medspaCy needs QuickUMLS solely to register its
`medspacy_quickumls` pipe. When QuickUMLS is not already imported, a placeholder stands in for it while medspaCy
loads; asking the placeholder for anything raises ImportError, so a later use of QuickUMLS fails loudly instead of
misbehaving.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path


class _Absent(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        raise ImportError(f"quickumls.{name}: QuickUMLS is not loaded in this process (see assistant.context_lib)")


if "quickumls" not in sys.modules:
    _placeholder = _Absent("quickumls")
    _placeholder.__path__ = []
    _component = _Absent("quickumls.spacy_component")
    _placeholder.__dict__["spacy_component"] = _component
    sys.modules["quickumls"] = _placeholder
    sys.modules["quickumls.spacy_component"] = _component

import medspacy  # noqa: E402  (after the placeholder, on purpose)
from medspacy.context import ConText, ConTextRule  # noqa: E402

__all__ = ["ConText", "ConTextRule", "default_rules_path"]


def default_rules_path() -> Path:
    """medspaCy's English ConText rules, shipped in its package."""
    return Path(medspacy.__file__).resolve().parents[1] / "resources" / "en" / "context_rules.json"
