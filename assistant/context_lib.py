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

# spaCy's machine-learning layer, thinc, imports PyTorch when it is installed (thinc.compat), only to offer its
# tensors to models the project never loads (a blank pipeline, ConText, a Matcher): about 0.9 s of every cold
# `assistant ask` (`python -X importtime`), and a recommendation never needs torch otherwise (the query embedder
# imports it itself, when a search needs it). While spaCy loads, `import torch` fails as if it were not installed,
# so thinc records it absent; the entry leaves sys.modules after, and a later `import torch` loads the real package.
# A process that has already imported torch keeps it as it is.
_torch_deferred = "torch" not in sys.modules
if _torch_deferred:
    sys.modules["torch"] = None  # type: ignore[assignment]
try:
    import spacy
    import thinc.compat  # noqa: F401  (decides has_torch now, while torch stands absent)
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Doc, Span
    from spacy.util import filter_spans
finally:
    if _torch_deferred and sys.modules.get("torch", False) is None:
        del sys.modules["torch"]


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

__all__ = ["ConText", "ConTextRule", "Doc", "Language", "Matcher", "Span", "default_rules_path", "filter_spans", "spacy"]


def default_rules_path() -> Path:
    """medspaCy's English ConText rules, shipped in its package."""
    return Path(medspacy.__file__).resolve().parents[1] / "resources" / "en" / "context_rules.json"
