"""Render the app icon from resources/icons/leaf-annotate.svg.

    python packaging/make_icons.py          refresh resources/icons/leaf-annotate.png (256 px, committed)
    python packaging/make_icons.py --all    also write build/icons/leaf-annotate.ico and .icns

The .ico (Windows) and .icns (macOS) are build products: the spec calls ``platform_icon``
on those systems, so a desktop build never needs this script to be run by hand.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ICON_SVG = REPO_ROOT / "resources" / "icons" / "leaf-annotate.svg"
ICON_PNG = REPO_ROOT / "resources" / "icons" / "leaf-annotate.png"
BUILD_ICONS = REPO_ROOT / "build" / "icons"
ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]


def render_svg(svg: Path, size: int):
    """The SVG drawn at ``size`` x ``size`` px, as an RGBA PIL image."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    from PySide6.QtWidgets import QApplication

    # QPainter needs an application; a QApplication (not a QGuiApplication) so that a test
    # process that renders icons can still open widgets afterwards.
    _app = QApplication.instance() or QApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot render {svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def write_png(out: Path = ICON_PNG, size: int = 256) -> Path:
    render_svg(ICON_SVG, size).save(out, optimize=True)
    return out


def write_ico(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    render_svg(ICON_SVG, 256).save(out, sizes=[(s, s) for s in ICO_SIZES])
    return out


def write_icns(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    render_svg(ICON_SVG, 1024).save(out)  # Pillow derives the 16..512 px members from it
    return out


def platform_icon(platform: str = sys.platform) -> Path | None:
    """The icon file PyInstaller embeds for ``platform``; None on Linux (the .desktop file names it)."""
    if platform == "win32":
        return write_ico(BUILD_ICONS / "leaf-annotate.ico")
    if platform == "darwin":
        return write_icns(BUILD_ICONS / "leaf-annotate.icns")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="also write the Windows .ico and macOS .icns")
    args = parser.parse_args(argv)
    print(write_png())
    if args.all:
        print(write_ico(BUILD_ICONS / "leaf-annotate.ico"))
        print(write_icns(BUILD_ICONS / "leaf-annotate.icns"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
