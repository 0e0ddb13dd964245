"""Apply the Basic Profile to every level of a dataset, with a safety net keyed on the VR.

Each element, at the top and inside every sequence item (functional groups, acquisition context,
referenced images, ...), goes through, in order:

1. removal of what never stays: private tags, curve data (50xx), overlays (60xx), the icon
   thumbnail, trailing padding, command and file meta elements (the writer builds its own file
   meta), and tags the data dictionary does not know (their meaning, hence their risk, is unknown);
2. Table E.1-1's action for its tag (``basic_profile``), a choice resolved by the attribute's
   Type in the image's IOD (``attribute_types``): Type 1 gets a dummy, Type 2 is emptied, the rest
   removed;
3. for what the table does not list, the VR: person names, dates and times are emptied where the
   IOD requires them (Type 1 or 2) and removed elsewhere; UIDs are replaced unless they name a
   class (SOP class, transfer syntax, coding scheme) or are in the standard's UID registry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from leaf_core.io.deidentify.attribute_types import REQUIRED, REQUIRED_EMPTY_ALLOWED, AttributeTypes
from leaf_core.io.deidentify.basic_profile import BasicProfile, TableAction
from leaf_core.io.deidentify.uids import CLASS_UID_KEYWORDS, is_well_known_uid, replacement_uid

ALWAYS_REMOVED = frozenset({"IconImageSequence", "DataSetTrailingPadding"})
REMOVED_GROUPS = (0x5000, 0x6000)  # curve data 50xx, overlays 60xx (which can hold burned-in text)
NAME_AND_TIME_VRS = frozenset({"PN", "DA", "DT", "TM"})

# Dummy values (action D): constants of the right VR that say nothing about anyone.
_DUMMY_TEXT = "ANONYMIZED"
_DUMMY_BY_VR = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "UR": "http://anonymized.invalid",
}
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"})


class Step(enum.Enum):
    """What happens to one element."""

    REMOVE = "remove"
    EMPTY = "empty"
    DUMMY = "dummy"
    NEW_UID = "new uid"
    KEEP = "keep"


def resolve(action: TableAction, attribute_type: str | None) -> Step:
    """The step for a table action, choices decided by the attribute's Type (None: not in the IOD)."""
    required = attribute_type in REQUIRED
    may_be_empty = attribute_type in REQUIRED_EMPTY_ALLOWED
    if action is TableAction.D:
        return Step.DUMMY
    if action is TableAction.Z:
        return Step.EMPTY
    if action is TableAction.X:
        return Step.REMOVE
    if action is TableAction.U:
        return Step.NEW_UID
    if action is TableAction.Z_D:
        return Step.DUMMY if required else Step.EMPTY
    if action is TableAction.X_Z:
        return Step.EMPTY if required or may_be_empty else Step.REMOVE
    if action is TableAction.X_D:
        return Step.DUMMY if required else Step.REMOVE
    if action is TableAction.X_Z_D:
        return Step.DUMMY if required else Step.EMPTY if may_be_empty else Step.REMOVE
    if action is TableAction.X_Z_U:  # a sequence of references: kept (its UIDs replaced) where required
        return Step.NEW_UID if required else Step.EMPTY if may_be_empty else Step.REMOVE
    raise ValueError(f"unknown table action {action!r}")


def safety_net(element: DataElement, attribute_type: str | None) -> Step:
    """The step for an element Table E.1-1 does not list, from its VR."""
    if element.VR in NAME_AND_TIME_VRS:
        required = attribute_type in REQUIRED or attribute_type in REQUIRED_EMPTY_ALLOWED
        return Step.EMPTY if required else Step.REMOVE
    if element.VR == "UI":
        if element.keyword in CLASS_UID_KEYWORDS or all(is_well_known_uid(uid) for uid in _values(element)):
            return Step.KEEP
        return Step.NEW_UID
    return Step.KEEP


@dataclass(frozen=True)
class Cleaner:
    """The profile, the IOD's attribute Types and the UID salt, applied level by level."""

    profile: BasicProfile
    types: AttributeTypes
    uid_salt: str

    def clean(self, dataset: Dataset, path: tuple[str, ...] = ()) -> None:
        """Clean ``dataset`` in place; ``path`` is the keywords of the sequences above it."""
        for element in list(dataset):  # iterating converts raw elements, so VR and value are known
            if _always_removed(element):
                del dataset[element.tag]
                continue
            attribute_type = self.types.type_of(path, element.keyword)
            action = self.profile.action_for(element.tag)
            step = resolve(action, attribute_type) if action is not None else safety_net(element, attribute_type)
            self._apply(dataset, element, step, path)

    def _apply(self, dataset: Dataset, element: DataElement, step: Step, path: tuple[str, ...]) -> None:
        if step is Step.REMOVE:
            del dataset[element.tag]
        elif step is Step.EMPTY:
            element.value = [] if element.VR == "SQ" else None
        elif element.VR == "SQ":  # dummy, new UIDs or kept: the items are cleaned like the top level
            for item in element.value:
                self.clean(item, (*path, element.keyword))
        elif step is Step.NEW_UID or (step is Step.DUMMY and element.VR == "UI"):
            if element.VR != "UI":
                del dataset[element.tag]  # a UID row holding something else: nothing to map
                return
            new = [replacement_uid(uid, self.uid_salt) for uid in _values(element) if uid]
            element.value = new if len(new) != 1 else new[0]
        elif step is Step.DUMMY:
            element.value = dummy_value(element.VR)


def dummy_value(vr: str) -> object:
    """A constant of VR ``vr`` that identifies no one (action D)."""
    if vr in _DUMMY_BY_VR:
        return _DUMMY_BY_VR[vr]
    if vr in _TEXT_VRS:
        return _DUMMY_TEXT
    if vr in _NUMBER_VRS:
        return 0
    return b""  # OB, OW, OF, OD, OL, OV, UN


def _always_removed(element: DataElement) -> bool:
    tag = element.tag
    return (
        tag.is_private
        or tag.group & 0xFF00 in REMOVED_GROUPS
        or tag.group in (0x0000, 0x0002)  # command set, file meta: never part of a stored dataset
        or not element.keyword
        or element.keyword in ALWAYS_REMOVED
    )


def _values(element: DataElement) -> list[str]:
    value = element.value
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, (list, MultiValue)) else [str(value)]
