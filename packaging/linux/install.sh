#!/usr/bin/env bash
# Install a Linux desktop build (dist/leaf-annotate from the spec) for the current user, or for
# everyone with PREFIX=/opt/leaf-annotate BIN_DIR=/usr/local/bin DATA_DIR=/usr/local/share (as root).
#   bash packaging/linux/install.sh [dist/leaf-annotate]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/dist/leaf-annotate}"
PREFIX="${PREFIX:-$HOME/.local/opt/leaf-annotate}"
BIN_DIR="${BIN_DIR:-$HOME/.local/bin}"
DATA_DIR="${DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}"

[ -x "$build/leaf-annotate" ] || { echo "no build at $build: run pyinstaller packaging/leaf-annotate.spec first" >&2; exit 1; }
rm -rf "$PREFIX"
mkdir -p "$(dirname "$PREFIX")" "$BIN_DIR"
cp -a "$build" "$PREFIX"
ln -sf "$PREFIX/leaf-annotate" "$BIN_DIR/leaf-annotate"
ln -sf "$PREFIX/leaf" "$BIN_DIR/leaf"
# The menu entry names the installed program by its full path: a desktop session's PATH may lack BIN_DIR.
mkdir -p "$DATA_DIR/applications"
sed -e "s|^Exec=leaf-annotate |Exec=$PREFIX/leaf-annotate |" -e "s|^TryExec=leaf-annotate|TryExec=$PREFIX/leaf-annotate|" \
  "$repo/packaging/linux/leaf-annotate.desktop" > "$DATA_DIR/applications/leaf-annotate.desktop"
install -Dm644 "$repo/resources/icons/leaf-annotate.svg" "$DATA_DIR/icons/hicolor/scalable/apps/leaf-annotate.svg"
install -Dm644 "$repo/resources/icons/leaf-annotate.png" "$DATA_DIR/icons/hicolor/256x256/apps/leaf-annotate.png"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_DIR/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA_DIR/icons/hicolor" || true
echo "installed: $PREFIX; started by 'leaf-annotate' (make sure $BIN_DIR is on PATH) or from the applications menu"
