"""Named windows the app offers: CT presets in Hounsfield units and ones computed per image."""

from __future__ import annotations

from leaf_core.io.image_types import LoadedImage
from leaf_core.io.windowing import full_range_window, robust_window

# None means computed from the image (window_for_preset).
WINDOW_PRESETS: dict[str, tuple[float, float] | None] = {
    "Default": None,
    "Full range": None,
    "Auto (0.5-99.5 %)": None,
    "Lung": (-600.0, 1500.0),
    "Mediastinum": (50.0, 350.0),
    "Abdomen": (40.0, 400.0),
    "Bone": (400.0, 1800.0),
    "Brain": (40.0, 80.0),
}


def window_for_preset(name: str, image: LoadedImage) -> tuple[float, float]:
    """The (center, width) of a ``WINDOW_PRESETS`` entry for this image."""
    if name not in WINDOW_PRESETS:
        raise ValueError(f"unknown window preset {name!r}; expected one of {list(WINDOW_PRESETS)}")
    if image.intensity is None:
        raise ValueError("a colour image has no window")
    fixed = WINDOW_PRESETS[name]
    if fixed is not None:
        return fixed
    if name == "Default" and image.default_window is not None:
        return image.default_window
    if name == "Full range":
        return full_range_window(float(image.intensity.min()), float(image.intensity.max()))
    return robust_window(image.intensity)
