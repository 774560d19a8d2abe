"""Where a JSON text being written is: the open objects and arrays, their keys and indices, fed byte by byte.

Constrained decoding needs to know when a record reaches a given place (``functions[i].parameters.required``,
the top-level ``calls``) to bring in a grammar that depends on what was written before it. A full parser per token
would re-read the record each time; this keeps a stack and reads each byte once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_QUOTE, _BACKSLASH, _COLON, _COMMA = ord('"'), ord("\\"), ord(":"), ord(",")
_OPENERS, _CLOSERS = {ord("{"): "object", ord("["): "array"}, {ord("}"), ord("]")}


@dataclass
class _Container:
    kind: str  # "object" or "array"
    start: int  # offset of its opening bracket
    key: str | int | None = None  # the current key (object) or index (array)
    key_start: int = -1  # offset of the current key's opening quote (object)
    expects_key: bool = False


@dataclass
class JsonPathTracker:
    """Feed the bytes of a JSON text with :meth:`feed`; it returns, at each ``:``, the path of the value that starts
    there (keys and array indices from the top)."""

    text: bytearray = field(default_factory=bytearray)
    stack: list[_Container] = field(default_factory=list)
    _in_string: bool = False
    _escaped: bool = False
    _key: bytearray | None = None

    def feed(self, byte: int) -> list | None:
        offset = len(self.text)
        self.text.append(byte)
        top = self.stack[-1] if self.stack else None
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif byte == _BACKSLASH:
                self._escaped = True
            elif byte == _QUOTE:
                self._in_string = False
                if self._key is not None:
                    top.key, self._key = self._key.decode("utf-8", errors="replace"), None
                return None
            if self._key is not None:
                self._key.append(byte)
            return None
        if byte == _QUOTE:
            self._in_string = True
            if top is not None and top.kind == "object" and top.expects_key:
                self._key, top.key_start, top.expects_key = bytearray(), offset, False
        elif byte in _OPENERS:
            self.stack.append(_Container(_OPENERS[byte], offset, 0 if _OPENERS[byte] == "array" else None,
                                         expects_key=_OPENERS[byte] == "object"))
        elif byte in _CLOSERS and self.stack:
            self.stack.pop()
        elif byte == _COMMA and top is not None:
            if top.kind == "object":
                top.expects_key = True
            else:
                top.key += 1
        elif byte == _COLON and top is not None and top.kind == "object":
            return self.path()
        return None

    @property
    def depth(self) -> int:
        return len(self.stack)

    def path(self) -> list:
        return [container.key for container in self.stack]

    def object_so_far(self) -> bytes:
        """The text of the innermost open object up to its current key, closed: it parses into what the object
        holds before that key (at a ``:``, the siblings written before the value that starts)."""
        container = self.stack[-1]
        return bytes(self.text[container.start: container.key_start]).rstrip(b",") + b"}"
