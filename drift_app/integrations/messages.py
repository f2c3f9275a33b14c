"""Chat messages in the shapes tracing tools record them, split into system, user and assistant text.

One reader for all of them: OpenAI-style `{"role", "content"}` (content a string or a list of parts),
GenAI semantic-convention messages `{"role", "parts": [{"type": "text", "content"}]}`, Langfuse's
serialised input/output (a JSON string of either, or of `{"messages": [...]}`, or an OpenAI response with
`choices`), and plain strings. Nothing here knows about Django: it is plain data in, plain data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SYSTEM_ROLES = {"system", "developer"}
USER_ROLES = {"user", "human"}


@dataclass
class Parts:
    system: list[str] = field(default_factory=list)
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)

    def add(self, role: str | None, text: str, *, default: str) -> None:
        if not text:
            return
        role = (role or default).lower()
        if role in SYSTEM_ROLES:
            self.system.append(text)
        elif role in USER_ROLES:
            self.user.append(text)
        elif role in ("assistant", "ai", "model", "bot"):
            self.assistant.append(text)
        # tool and function messages are neither what users wrote nor the model's answer: left out.


def joined(texts: list[str]) -> str:
    return "\n\n".join(t for t in texts if t)


def maybe_json(value: Any) -> Any:
    """A string that holds a JSON object or array, decoded; anything else as it is."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def content_text(content: Any) -> str:
    """The text of a message's content: a string, a list of parts, or one part."""
    content = maybe_json(content) if isinstance(content, str) and content[:1] in "[{" else content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return joined([content_text(part) for part in content])
    if isinstance(content, dict):
        kind = content.get("type")
        if kind not in (None, "text", "input_text", "output_text"):
            return ""  # images, audio, tool calls: not text a drift test can embed
        for name in ("text", "content", "value"):
            if isinstance(content.get(name), str):
                return content[name]
        return ""
    return str(content)


def read_messages(value: Any, parts: Parts, *, default_role: str) -> None:
    """Add every message found in `value` to `parts`; roleless text counts as `default_role`."""
    value = maybe_json(value)
    if value is None or value == "":
        return
    if isinstance(value, str):
        parts.add(None, value, default=default_role)
    elif isinstance(value, list):
        for item in value:
            read_messages(item, parts, default_role=default_role)
    elif isinstance(value, dict):
        if "messages" in value:
            read_messages(value["messages"], parts, default_role=default_role)
        elif "choices" in value:  # an OpenAI chat completion recorded as the output
            for choice in value.get("choices") or []:
                if isinstance(choice, dict):
                    read_messages(choice.get("message") or choice.get("text"), parts, default_role="assistant")
        elif "parts" in value:  # GenAI semantic conventions
            parts.add(value.get("role"), content_text(value["parts"]), default=default_role)
        elif "content" in value:
            parts.add(value.get("role"), content_text(value["content"]), default=default_role)
        elif "text" in value and isinstance(value["text"], str):
            parts.add(value.get("role"), value["text"], default=default_role)
        else:
            # An input that is not a conversation (a dict of template variables, say): its JSON is the prompt.
            parts.add(None, json.dumps(value, ensure_ascii=False, sort_keys=True), default=default_role)
    else:
        parts.add(None, str(value), default=default_role)
