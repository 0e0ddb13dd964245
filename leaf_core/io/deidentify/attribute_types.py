"""The Type (1, 1C, 2, 2C, 3) of an attribute in an image's IOD, from the standard's tables.

Table E.1-1's choices (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) depend on it: an attribute the IOD requires
(Type 1) gets a dummy value, one it requires present but allows empty (Type 2) is emptied, the
rest is removed. The tables are the ones highdicom ships (generated from PS3.3/PS3.4: SOP Class
-> IOD -> modules -> attributes with their Type and the sequence path they sit in).
Without those tables every attribute counts as optional (removed), the most private choice.
"""

from __future__ import annotations

import json
import logging
import pkgutil
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

# most required first: when modules disagree, the stronger requirement wins
_STRENGTH = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}
REQUIRED = frozenset({"1", "1C"})
REQUIRED_EMPTY_ALLOWED = frozenset({"2", "2C"})


@dataclass(frozen=True)
class AttributeTypes:
    """Types of one IOD's attributes, keyed by (sequence path from the top, keyword)."""

    iod: str | None
    types: dict[tuple[tuple[str, ...], str], str]

    def type_of(self, path: tuple[str, ...], keyword: str) -> str | None:
        """'1', '1C', '2', '2C', '3', or None when the IOD does not have the attribute there."""
        return self.types.get((path, keyword))


def _standard_table(name: str) -> dict:
    data = pkgutil.get_data("highdicom", f"_standard/{name}.json")
    if data is None:
        raise FileNotFoundError(name)
    return json.loads(data)


@lru_cache(maxsize=16)
def attribute_types(sop_class_uid: str) -> AttributeTypes:
    """The attribute Types of the IOD of ``sop_class_uid`` (empty when it is unknown).

    The attribute table is large (20 MB of JSON): it is read once per IOD and only that IOD's
    part is kept.
    """
    try:
        iod = _standard_table("sop_class_iod_map").get(str(sop_class_uid))
        if iod is None:
            return AttributeTypes(None, {})
        modules = [entry["key"] for entry in _standard_table("iod_module_map")[iod]]
        attributes = _standard_table("module_attribute_map")
    except (ImportError, OSError, ValueError, KeyError) as error:
        log.warning("the standard's attribute tables are not available (%s): optional attributes are removed", error)
        return AttributeTypes(None, {})
    types: dict[tuple[tuple[str, ...], str], str] = {}
    for module in modules:
        for entry in attributes.get(module, ()):
            key = (tuple(entry["path"]), entry["keyword"])
            kind = entry["type"]
            if key not in types or _STRENGTH.get(kind, 9) < _STRENGTH.get(types[key], 9):
                types[key] = kind
    return AttributeTypes(iod, types)
