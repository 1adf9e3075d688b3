"""A deployed assistant as the eval harness sees it: `POST {url}/api/answer` with {"messages": [...]}.

The reply is the contract's Answer JSON. Servers may add fields (the contract allows it), so keys
this version does not know are dropped before validation rather than refused. An error status
whose body is an Answer (kind "error") is scored like any other answer; anything else stops the
run with a message naming the URL and the status.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from assistant.errors import AssistantError
from assistant.types import Answer, Change, Citation, Recommendation

_NESTED: dict[str, type[BaseModel]] = {"citations": Citation, "recommendations": Recommendation,
                                       "what_would_change": Change}


def known_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The Answer keys this version knows, nested lists included; added fields are dropped."""
    kept = {k: v for k, v in data.items() if k in Answer.model_fields}
    for key, model in _NESTED.items():
        if isinstance(kept.get(key), list):
            kept[key] = [{k: v for k, v in item.items() if k in model.model_fields} if isinstance(item, dict)
                         else item for item in kept[key]]
    return kept


class RemoteAssistant:
    """answer(messages) over HTTP; one request per case, as a fresh conversation."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise AssistantError(f"--api needs an http:// or https:// URL, not {url!r}")
        self.endpoint = url.rstrip("/") + "/api/answer"
        self.timeout = timeout

    def answer(self, messages: Sequence[str]) -> Answer:
        body = json.dumps({"messages": list(messages)}).encode("utf-8")
        request = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            if not _is_answer(payload):
                raise AssistantError(f"{self.endpoint} answered HTTP {exc.code} without an Answer") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise AssistantError(f"{self.endpoint} cannot be reached: {getattr(exc, 'reason', exc)}") from None
        try:
            return Answer.model_validate(known_fields(json.loads(payload)))
        except (ValueError, ValidationError, AttributeError) as exc:
            raise AssistantError(f"{self.endpoint} did not return the contract's Answer JSON: "
                                 f"{str(exc).splitlines()[0]}") from None


def _is_answer(payload: bytes) -> bool:
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return isinstance(data, dict) and "kind" in data and "text" in data
