"""assistant.context_lib loads spaCy and medspaCy's ConText without PyTorch or QuickUMLS, and leaves both importable.

A cold `assistant ask` pays for every module imported; these two are never used by understanding, and a regression
(an import order changed, a new spaCy release) would add about a second to every cold answer without failing any
answer test.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import assistant.context_lib
import assistant.scope
after = {"torch": "torch" in sys.modules, "quickumls": "quickumls" in sys.modules}
import torch
after["torch_later"] = hasattr(torch, "tensor")
print(json.dumps(after))
"""


def test_understanding_loads_without_torch_or_quickumls_and_leaves_torch_importable() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"torch": False, "quickumls": False, "torch_later": True}


def test_context_rules_of_medspacy_are_found() -> None:
    from assistant.context_lib import default_rules_path

    rules = json.loads(default_rules_path().read_text(encoding="utf-8"))
    assert len(rules["context_rules"]) > 50
