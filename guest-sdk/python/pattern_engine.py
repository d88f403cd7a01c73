"""Pattern Engine Python SDK: the Rust SDK's ergonomics for Python guests.

- ``library(name, version, [fn(...)...], key_prefixes=[...], deadline_ms=...)``
  and ``fn(name, summary).key(...).arg(...).optional_arg(...).read_only()``
  describe a library (key prefixes and budgets are optional keywords).
- ``export_library(info, handlers)`` builds the class componentize-py
  exports as ``Library``: ``call`` dispatches to ``handlers[function](keys,
  args)``, wraps the raw arguments in ``Args``, flattens the returned reply
  into the WIT node list and turns a ``PatternError`` into the WIT error.
- ``Args`` parses arguments with the Rust SDK's one-line errors, word for
  word, so a library replies the same whatever its language.
- ``redis`` is the typed import module (``wit_world.imports.redis``; its
  functions raise ``Err(error)`` when Redis refuses), ``now_ms()`` reads the
  server's clock, ``log(level, message)`` writes to the Redis log.

Replies: an int is an integer, a bool the integer 1 or 0 (as in the Rust
SDK), str or bytes a bulk string, None nil, a list or tuple an array;
``Status("OK")``, ``Double(x)`` and ``ErrorReply("ERR ...")`` build the
other node types.
"""

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from componentize_py_types import Err
from wit_world.exports import library as lib
from wit_world.imports import log as _log
from wit_world.imports import redis, types

__all__ = [
    "Args", "Double", "ErrorReply", "PatternError", "Status", "export_library", "expect_keys",
    "flatten", "fn", "guest_error", "library", "log", "now_ms", "redis",
]


class PatternError(Exception):
    """An error returned to the caller as a WIT error variant."""

    def __init__(self, error):
        super().__init__(getattr(error, "value", error))
        self.error = error


def guest_error(message: str) -> PatternError:
    """An error of the guest itself; by convention it starts with "ERR "."""
    return PatternError(types.Error_Guest(message))


def now_ms() -> int:
    """The server's clock in milliseconds since the Unix epoch."""
    t = redis.time()
    return t.seconds * 1000 + t.microseconds // 1000


_LEVELS = {
    "debug": _log.Level.DEBUG, "info": _log.Level.INFO,
    "warn": _log.Level.WARN, "error": _log.Level.ERROR,
}


def log(level: str, message: str) -> None:
    """Writes ``message`` to the Redis log at ``level`` (debug, info, warn, error)."""
    _log.log(_LEVELS[level], message)


def expect_keys(keys: List[bytes], n: int, usage: str) -> List[bytes]:
    """Fails unless exactly ``n`` keys were declared; ``usage`` names them."""
    if len(keys) != n:
        raise guest_error(f"ERR expected {n} key(s): {usage}")
    return keys


_INTEGER = re.compile(r"\+?[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)", re.I)


class Args:
    """A call's arguments, parsed with one-line errors that name the argument."""

    def __init__(self, items: List[bytes]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def expect_count(self, low: int, high: int, usage: str) -> None:
        """Fails unless there are between ``low`` and ``high`` arguments."""
        if not low <= len(self.items) <= high:
            raise guest_error(f"ERR wrong number of arguments: expected {usage}")

    def bytes(self, i: int, name: str) -> bytes:
        if i >= len(self.items):
            raise guest_error(f"ERR missing argument <{name}>")
        return self.items[i]

    def str(self, i: int, name: str) -> str:
        try:
            return self.bytes(i, name).decode("utf-8")
        except UnicodeDecodeError:
            raise guest_error(f"ERR <{name}> must be UTF-8 text") from None

    def _parse(self, i: int, name: str, what: str, pattern, check) -> str:
        text = self.str(i, name)
        if not pattern.fullmatch(text) or not check(text):
            raise guest_error(f"ERR <{name}> must be {what}, got '{text}'")
        return text

    def u64(self, i: int, name: str) -> int:
        """Argument ``i`` as a non-negative integer (u64 range)."""
        return int(self._parse(i, name, "a non-negative integer", _INTEGER, lambda t: int(t) < 2**64))

    def positive(self, i: int, name: str) -> int:
        n = self.u64(i, name)
        if n == 0:
            raise guest_error(f"ERR <{name}> must be a positive integer, got '0'")
        return n

    def i64(self, i: int, name: str) -> int:
        return int(self._parse(i, name, "an integer", _SIGNED, lambda t: -(2**63) <= int(t) < 2**63))

    def f64(self, i: int, name: str) -> float:
        """Argument ``i`` as a finite float."""
        value = float(self._parse(i, name, "a number", _FLOAT, lambda t: True))
        if value != value or value in (float("inf"), float("-inf")):
            raise guest_error(f"ERR <{name}> must be a finite number")
        return value

    def optional(self, i: int, parse: Callable[["Args", int], object]):
        """Optional argument ``i``, parsed with ``parse(args, i)`` when present."""
        return parse(self, i) if i < len(self.items) else None


@dataclass
class Status:
    text: str


@dataclass
class Double:
    value: float


@dataclass
class ErrorReply:
    text: str


def flatten(reply, nodes: Optional[List[types.Node]] = None) -> List[types.Node]:
    """Flattens a reply value into the WIT node list, in pre-order."""
    nodes = [] if nodes is None else nodes
    if reply is None:
        nodes.append(types.Node_Nil())
    elif isinstance(reply, bool):
        nodes.append(types.Node_Integer(1 if reply else 0))
    elif isinstance(reply, int):
        nodes.append(types.Node_Integer(reply))
    elif isinstance(reply, str):
        nodes.append(types.Node_Bulk(reply.encode()))
    elif isinstance(reply, (bytes, bytearray)):
        nodes.append(types.Node_Bulk(bytes(reply)))
    elif isinstance(reply, (list, tuple)):
        nodes.append(types.Node_Array(len(reply)))
        for item in reply:
            flatten(item, nodes)
    elif isinstance(reply, Status):
        nodes.append(types.Node_Status(reply.text))
    elif isinstance(reply, Double):
        nodes.append(types.Node_Double(reply.value))
    elif isinstance(reply, ErrorReply):
        nodes.append(types.Node_Error(reply.text))
    else:
        raise TypeError(f"cannot reply with {type(reply).__name__}")
    return nodes


@dataclass
class _Fn:
    info: lib.FunctionInfo

    def key(self, name: str, doc: str) -> "_Fn":
        self.info.keys.append(lib.Param(name, doc, False))
        return self

    def arg(self, name: str, doc: str) -> "_Fn":
        self.info.args.append(lib.Param(name, doc, False))
        return self

    def optional_arg(self, name: str, doc: str) -> "_Fn":
        self.info.args.append(lib.Param(name, doc, True))
        return self

    def read_only(self) -> "_Fn":
        self.info.read_only = True
        return self

    def dynamic_keys(self) -> "_Fn":
        self.info.dynamic_keys = True
        return self


def fn(name: str, summary: str) -> _Fn:
    """Describes a function; chain ``.key()``, ``.arg()``, ``.optional_arg()``, ``.read_only()``."""
    return _Fn(lib.FunctionInfo(name, summary, False, False, [], []))


def library(
    name: str,
    version: str,
    functions: List[_Fn],
    *,
    key_prefixes: Sequence[str] = (),
    deadline_ms: Optional[int] = None,
    fuel: Optional[int] = None,
    memory_bytes: Optional[int] = None,
    max_host_calls: Optional[int] = None,
    max_reply_bytes: Optional[int] = None,
) -> lib.LibraryInfo:
    """Describes a library.

    ``key_prefixes``: the key prefixes it may touch, e.g. ``["rate:"]``;
    every key of its calls must start with one (none: any key). The other
    keywords ask for per-call budgets in place of the operator's defaults
    (within the operator's ceilings); None keeps the default.
    """
    budgets = lib.BudgetRequest(
        deadline_ms=deadline_ms, fuel=fuel, memory_bytes=memory_bytes,
        max_host_calls=max_host_calls, max_reply_bytes=max_reply_bytes,
    )
    return lib.LibraryInfo(
        name=name, version=version, functions=[f.info for f in functions],
        key_prefixes=list(key_prefixes), budgets=budgets,
    )


def export_library(info: lib.LibraryInfo, handlers: Dict[str, Callable]):
    """The class to export as ``Library``: ``describe`` returns ``info``;
    ``call`` runs ``handlers[function](keys, args)`` and flattens its reply."""

    class Library:
        def describe(self) -> lib.LibraryInfo:
            return info

        def call(self, function: str, keys: List[bytes], args: List[bytes]) -> List[types.Node]:
            handler = handlers.get(function)
            if handler is None:
                raise Err(types.Error_Guest(f"ERR unknown function '{function}'"))
            try:
                return flatten(handler(keys, Args(args)))
            except PatternError as e:
                raise Err(e.error) from None

    return Library
