"""medspaCy's ConText without the parts of medspaCy the project does not use.

`import medspacy` imports every component it ships, among them QuickUMLS, which imports NLTK and SciPy: about half
of medspaCy's import time (4 of 8.5 s measured on this machine under load, 2 of 4 s quiet), paid by every cold
`assistant ask`. The project uses ConText only, and medspaCy needs QuickUMLS solely to register its
`medspacy_quickumls` pipe. When QuickUMLS is not already imported, a placeholder stands in for it while medspaCy
loads and leaves sys.modules after it; medspaCy's own QuickUMLS pipe would then fail loudly (AttributeError), never
misbehave.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path


class _Absent(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        raise AttributeError(f"{self.__name__}.{name}: QuickUMLS was not loaded for medspaCy (see assistant.context_lib)")


_stand_in = "quickumls" not in sys.modules
if _stand_in:
    _placeholder = _Absent("quickumls")
    _component = _Absent("quickumls.spacy_component")
    _placeholder.__dict__["spacy_component"] = _component
    sys.modules["quickumls"] = _placeholder
    sys.modules["quickumls.spacy_component"] = _component

import medspacy  # noqa: E402  (after the placeholder, on purpose)
from medspacy.context import ConText, ConTextRule  # noqa: E402

if _stand_in:  # gone once medspaCy is loaded: a later `import quickumls` gets the real package
    del sys.modules["quickumls"], sys.modules["quickumls.spacy_component"]

__all__ = ["ConText", "ConTextRule", "default_rules_path"]


def default_rules_path() -> Path:
    """medspaCy's English ConText rules, shipped in its package."""
    return Path(medspacy.__file__).resolve().parents[1] / "resources" / "en" / "context_rules.json"
