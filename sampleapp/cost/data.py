"""Reading the cost data files: YAML mappings whose every field is checked on the way in.

A price file is edited by hand, so each missing or malformed field is a ``CostError`` that names
the file, the field's path in it and what was expected, rather than a KeyError later on.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from sampleapp.errors import CostError

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; a ``CostError`` naming the file when it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CostError(f"cannot read {path}: {exc.strerror}: give an existing file") from exc
    except yaml.YAMLError as exc:
        raise CostError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CostError(f"{path} holds no mapping: expected the fields of a cost data file")
    return data


class Fields:
    """One mapping of a data file, with the path of keys that led to it, for messages."""

    def __init__(self, data: object, path: Path, where: str = "") -> None:
        if not isinstance(data, dict):
            raise CostError(f"{path}: {where or 'the file'} is not a mapping")
        self.data: dict[str, Any] = data
        self.path, self.where = path, where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise CostError(f"{self.path}: {self._name(key)} is missing")
        return self.data[key]

    def sub(self, key: str) -> Fields:
        return Fields(self.raw(key), self.path, self._name(key))

    def items(self) -> list[tuple[str, Fields]]:
        return [(str(k), Fields(v, self.path, self._name(str(k)))) for k, v in self.data.items()]

    def list(self, key: str) -> list[Fields]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise CostError(f"{self.path}: {self._name(key)} should be a non-empty list")
        return [Fields(v, self.path, f"{self._name(key)}[{i}]") for i, v in enumerate(value)]

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self.data:
            return default
        value = self.raw(key)
        if value is None or isinstance(value, dict | list):
            raise CostError(f"{self.path}: {self._name(key)} should be text, found {value!r}")
        return str(value)

    def decimal(self, key: str, *, positive: bool = False) -> Decimal:
        value = self.raw(key)
        try:
            number = Decimal(str(value)) if not isinstance(value, bool | float) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number < 0 or (positive and number == 0):
            kind = "a number above 0" if positive else "a number, 0 or more"
            hint = (
                ' (write prices as quoted strings, e.g. "0.0104")'
                if isinstance(value, float)
                else ""
            )
            raise CostError(
                f"{self.path}: {self._name(key)} should be {kind}, found {value!r}{hint}"
            )
        return number

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CostError(
                f"{self.path}: {self._name(key)} should be a whole number, found {value!r}"
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise CostError(
                f"{self.path}: {self._name(key)} should be true or false, found {value!r}"
            )
        return value
