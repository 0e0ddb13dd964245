"""Table E.1-1 of DICOM PS3.15 (Basic Profile column): the action for every attribute it lists.

The table is read from dicom-anonymizer (KitwareMedical), which transcribes each edition of the
standard into one module per edition (``dicomfields_2023``, ``dicomfields_2024b``,
``dicomfields_2026c``, ...); the newest edition installed is used. Its groups are the table's
actions: D (dummy), Z (empty), X (remove), U (new UID) and the choices Z/D, X/Z, X/D, X/Z/D and
X/Z/U*. K and C appear only in the option columns, which this profile does not apply.
Repeating groups (curve data 50xx, overlay data and comments 60xx) are masked entries.
"""

from __future__ import annotations

import enum
import pkgutil
from dataclasses import dataclass
from functools import lru_cache


class TableAction(enum.Enum):
    """An action of Table E.1-1 (PS3.15 E.3.1); choices are resolved by the attribute's Type."""

    D = "D"
    Z = "Z"
    X = "X"
    U = "U"
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"


# dicom-anonymizer's group names -> the table's actions
_GROUPS = {
    "D_TAGS": TableAction.D,
    "Z_TAGS": TableAction.Z,
    "X_TAGS": TableAction.X,
    "U_TAGS": TableAction.U,
    "Z_D_TAGS": TableAction.Z_D,
    "X_Z_TAGS": TableAction.X_Z,
    "X_D_TAGS": TableAction.X_D,
    "X_Z_D_TAGS": TableAction.X_Z_D,
    "X_Z_U_STAR_TAGS": TableAction.X_Z_U,
}


@dataclass(frozen=True)
class MaskedRow:
    """A row for a repeating group: a tag matches when ``tag & mask == value & mask``."""

    value: int
    mask: int
    action: TableAction


@dataclass(frozen=True)
class BasicProfile:
    """The table of one edition: exact tags and masked rows, each with its action."""

    edition: str
    """e.g. '2026c'"""
    exact: dict[int, TableAction]
    masked: tuple[MaskedRow, ...]

    def action_for(self, tag: int) -> TableAction | None:
        """The table's action for a tag, or None when the table does not list it."""
        action = self.exact.get(int(tag))
        if action is not None:
            return action
        for row in self.masked:
            if int(tag) & row.mask == row.value & row.mask:
                return row.action
        return None

    def __len__(self) -> int:
        return len(self.exact) + len(self.masked)


def newest_edition() -> str:
    """The module name of the newest edition dicom-anonymizer carries (e.g. 'dicomfields_2026c')."""
    from dicomanonymizer import dicom_anonymization_databases

    names = [m.name for m in pkgutil.iter_modules(dicom_anonymization_databases.__path__)]
    editions = sorted(n for n in names if n.startswith("dicomfields_"))
    if not editions:
        raise ImportError("dicom-anonymizer carries no edition of PS3.15 Table E.1-1")
    return editions[-1]


@lru_cache(maxsize=1)
def basic_profile() -> BasicProfile:
    """The Basic Profile of the newest edition of Table E.1-1 (read once)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    module = newest_edition()
    groups = dicom_anonymization_database_selector(module)
    exact: dict[int, TableAction] = {}
    masked: list[MaskedRow] = []
    for group_name, action in _GROUPS.items():
        for row in groups[group_name]:
            if len(row) == 2:
                exact[(row[0] << 16) | row[1]] = action
            else:  # (group, element, group mask, element mask)
                masked.append(MaskedRow((row[0] << 16) | row[1], (row[2] << 16) | row[3], action))
    return BasicProfile(module.removeprefix("dicomfields_"), exact, tuple(masked))
