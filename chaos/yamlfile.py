"""Reading the drill's YAML files safely: text only, no aliases, no duplicate keys, a bounded size.

An alias (``*name``) lets a few lines expand into gigabytes (a "billion laughs"); a
duplicate key silently keeps the last value. Both are refused, with the line. So is
a file that is not UTF-8 text, or larger than any configuration file needs to be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from chaos.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MAX_BYTES", "compose_file", "load_file"]

MAX_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor} is not allowed here",
                                              event.start_mark)  # fmt: skip
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        check_unique(node)
        return super().construct_mapping(node, deep)


def check_unique(node: yaml.MappingNode) -> None:
    """Raise on a key that appears twice in ``node``, naming both lines."""
    seen: dict[str, int] = {}
    for key, _ in node.value:
        text = str(key.value)
        if text in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {text!r} (first on line {seen[text]})", key.start_mark
            )
        seen[text] = key.start_mark.line + 1


def _text(path: Path, what: str) -> str:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{what} {path}: larger than {MAX_BYTES // 1024} KiB; not a configuration file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{what} {path}:{line}: not UTF-8 text (byte {exc.start}); is this the right file?") from None
    if "\x00" in text:
        raise ConfigError(f"{what} {path}: contains NUL bytes; not a text file")
    return text


def _error(path: Path, what: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError(f"{what} {where}: not valid YAML: {problem}")


def compose_file(path: Path, what: str) -> yaml.Node | None:
    """The file's node tree (line numbers kept), refusing aliases; duplicate keys are for the caller's walk."""
    text = _text(path, what)
    try:
        return yaml.compose(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise _error(path, what, exc) from None


def load_file(path: Path, what: str) -> Any:
    """The file's data, refusing aliases and duplicate keys."""
    text = _text(path, what)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _error(path, what, exc) from None
