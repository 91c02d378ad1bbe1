# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""Input validators shared by the package: each raises a `ValueError` / `TypeError` that names the argument, the
value it got and what is allowed."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Iterable


def describe(value) -> str:
    """`type repr` of a value for an error message, the repr cut at 80 characters."""
    text = repr(value)
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


def is_int(value) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite real number (Python, numpy or a 0-d tensor's item), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an `int`, if it is an integer in `[minimum, maximum]` (either bound optional)."""
    if not is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {_int_range(minimum, maximum)}, got {describe(value)}.")
    return int(value)


def check_number(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """`value` as a `float`, if it is a finite number in the range (`exclusive_minimum`: strictly above `minimum`)."""
    ok = is_number(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        low = "" if minimum is None else f" {'>' if exclusive_minimum else '>='} {minimum}"
        high = "" if maximum is None else f"{' and' if low else ''} <= {maximum}"
        raise ValueError(f"`{name}` must be a finite number{low}{high}, got {describe(value)}.")
    return float(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {describe(value)}.")
    return value


def check_choice(name: str, value, allowed: Iterable) -> None:
    allowed = list(allowed)
    if not _hashable(value) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}, got {describe(value)}.")


def check_text(name: str, value, allow_empty: bool = True) -> str:
    """A string; with `allow_empty=False`, one with something other than whitespace."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, got {describe(value)}.")
    if not allow_empty and not value.strip():
        raise ValueError(f"`{name}` must not be empty, got {value!r}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"`{name}` holds {value[error.start]!r} at position {error.start}, a lone surrogate that is not valid "
            "Unicode text; decode the text with errors='replace' first."
        ) from None
    return value


def check_text_list(name: str, value, allow_empty: bool = True) -> list[str]:
    """A string or a non-empty list of strings, as a list."""
    if isinstance(value, str):
        return [check_text(name, value, allow_empty)]
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return [check_text(f"{name}[{i}]", item, allow_empty) for i, item in enumerate(value)]
    raise TypeError(f"`{name}` must be a string or a non-empty list of strings, got {describe(value)}.")


def read_mapping_file(path: str | os.PathLike, name: str, file_format: str = "yaml") -> dict:
    """A YAML or JSON file holding a mapping (a config, a recipe); a missing, unreadable or malformed file is a clear
    error naming `name` (the argument that gave the path) and where the problem is."""
    path = os.fspath(path)
    where = f"`{name}` file {path!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} does not exist.")
    try:
        with open(path, encoding="utf-8") as handle:
            if file_format == "json":
                content = json.load(handle)
            else:
                import yaml

                content = yaml.safe_load(handle)
    except UnicodeDecodeError as error:
        raise ValueError(f"{where} is not UTF-8 text ({error.reason}).") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{where} is not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
        ) from None
    except Exception as error:  # yaml.YAMLError, without importing yaml for JSON files
        mark = getattr(error, "problem_mark", None)
        if mark is None and not type(error).__module__.startswith("yaml"):
            raise
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{where} is not valid YAML{at}: {problem}.") from None
    if content is None and file_format != "json":
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"{where} must hold a mapping of names to values, got a {type(content).__name__}.")
    bad_keys = [key for key in content if not isinstance(key, str)]
    if bad_keys:
        raise ValueError(f"{where} has names that are not text: {bad_keys}.")
    return content


def _int_range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


__all__ = [
    "read_mapping_file",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_text",
    "check_text_list",
    "describe",
    "is_int",
    "is_number",
]
