"""Command-line flags generated from a config dataclass, and the config built back from parsed flags.

Each field becomes `--field-name` (or its `flag` metadata), typed from its annotation, with its
`help`, `choices`, `metavar` and `required` metadata (see `fusionrs.core.training.config_field`):
`bool` fields are switches (`negate=True`: a `--no-x` switch for a default-True field), `list[str]`
fields repeat, `kind="positive"` / `"non_negative"` ints reject bad values with one argparse line.
argparse does the parsing; this only saves writing every flag twice (once in the config, once in the
CLI) and keeps `--help` and the library defaults from drifting apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_config_arguments", "config_command", "config_from_args", "non_negative_int", "positive_int"]


def _int_at_least(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1.

    Args:
        text: the flag's value as typed.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: not an integer, or below 1 (argparse prints one line, exits 2).
    """
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0.

    Args:
        text: the flag's value as typed.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: not an integer, or below 0 (argparse prints one line, exits 2).
    """
    return _int_at_least(text, 0, "an integer >= 0")


_KINDS = {"positive": positive_int, "non_negative": non_negative_int}


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(type, is_list) of an annotation such as `int | None` or `list[str]`."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return typing.get_args(annotation)[0], True
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and origin is not None:
        return args[0], False
    return annotation, False


def _cli_fields(config_cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(config_cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True)]


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of `config_cls` (fields with `cli=False` metadata or in `skip` are left out).

    Args:
        parser: the (sub-)parser to extend.
        config_cls: a dataclass whose fields carry `config_field` metadata.
        skip: field names to leave out.

    Raises:
        TypeError: a field's type has no command-line form (give it `cli=False`).
    """
    own, shared = _grouped_fields(config_cls)
    groups = [(parser, own)]
    if shared:
        groups.append((parser.add_argument_group("budget and bookkeeping (shared by every fusionrs trainer)"), shared))
    for target, fields in groups:
        for f, annotation in fields:
            if f.name not in skip:
                _add_field(target, config_cls, f, annotation)


def _grouped_fields(config_cls: type) -> tuple[list, list]:
    """(the config's own fields, the fields it inherits from its dataclass bases), in declaration order."""
    inherited: set[str] = set()
    for base in config_cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            inherited |= {f.name for f in dataclasses.fields(base)}
    fields = _cli_fields(config_cls)
    return [x for x in fields if x[0].name not in inherited], [x for x in fields if x[0].name in inherited]


def _add_field(parser, config_cls: type, f: dataclasses.Field, annotation: Any) -> None:
    """One flag for one field (see the module docstring for the mapping)."""
    meta = f.metadata
    flag = meta.get("flag", "--" + f.name.replace("_", "-"))
    kwargs: dict[str, Any] = {"dest": f.name, "help": meta.get("help") or None}
    base, is_list = _base_type(annotation)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if base is bool:
        kwargs["action"] = "store_false" if meta.get("negate") else "store_true"
        kwargs["default"] = default
    elif base in (int, float, str):
        kwargs["type"] = _KINDS[meta["kind"]] if "kind" in meta else base
        if is_list:
            kwargs.update(action="append", default=list(default))
        else:
            kwargs["default"] = default
        for key in ("choices", "metavar", "required"):
            if key in meta:
                kwargs[key] = meta[key]
        if kwargs.get("required"):
            kwargs.pop("default", None)
        elif kwargs["help"] and default not in (None, [], "") and "default" not in kwargs["help"]:
            kwargs["help"] += f" (default {default})"
    else:
        raise TypeError(f"{config_cls.__name__}.{f.name}: type {annotation} has no flag form; give it cli=False")
    parser.add_argument(flag, *meta.get("aliases", ()), **kwargs)


def config_from_args(config_cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """Build `config_cls` from the flags `add_config_arguments` added (fields without a flag keep defaults).

    Args:
        config_cls: the dataclass.
        args: the parsed namespace.
        **overrides: values set directly (fields without a flag, derived values).

    Returns:
        A `config_cls` instance.
    """
    values = {f.name: getattr(args, f.name) for f, _ in _cli_fields(config_cls) if hasattr(args, f.name)}
    return config_cls(**{**values, **overrides})


def config_command(config_cls: type, values: Mapping[str, Any], command: Sequence[str]) -> str:
    """The command line that reproduces a run from its recorded config (the inverse of `config_from_args`).

    Args:
        config_cls: the dataclass the command's flags come from (`add_config_arguments`).
        values: the run's field values (`dataclasses.asdict(config)`, or a recorded subset).
        command: the words before the flags, e.g. `("fusionrs", "train", "vlm")`.

    Returns:
        The command, quoted for a POSIX shell: a flag for every field whose value differs from the
        default and for every required field (repeatable flags once per value); fields without a
        flag, missing from `values` or None are left out.
    """
    words = list(command)
    for f in dataclasses.fields(config_cls):
        if f.name not in values or not f.metadata.get("cli", True):
            continue
        value = values[f.name]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        if value is None or (value == default and not f.metadata.get("required")):
            continue
        flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        if isinstance(value, bool):
            words.append(flag)  # store_true (or store_false for negated flags): given only when not the default
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)
