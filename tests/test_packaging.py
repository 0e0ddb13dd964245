"""The desktop build resolves: spec entry points, bundled resources, icons, .desktop file, CI command."""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from leaf_app import resources
from leaf_core.cli.main import COMMAND_MODULES

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING = REPO_ROOT / "packaging"
SPEC = PACKAGING / "leaf-annotate.spec"
DESKTOP_FILE = PACKAGING / "linux" / "leaf-annotate.desktop"
ICONS = REPO_ROOT / "resources" / "icons"


@dataclass
class SpecBuild:
    """What the spec asked PyInstaller for, recorded by stand-ins for PyInstaller's classes."""

    analyses: list[dict] = field(default_factory=list)
    executables: list[dict] = field(default_factory=list)
    collect: dict | None = None


def _exec_spec(platform: str = "linux") -> SpecBuild:
    """Run the spec as `pyinstaller` does (same globals), without analysing or building anything."""
    build = SpecBuild()

    class Analysis:
        def __init__(self, scripts, **kwargs):
            build.analyses.append({"scripts": scripts, **kwargs})
            self.pure, self.scripts, self.binaries, self.datas = [], scripts, [], kwargs.get("datas", [])

    def EXE(*args, **kwargs):
        build.executables.append(kwargs)
        return kwargs

    def COLLECT(*args, **kwargs):
        build.collect = {"items": args, **kwargs}

    namespace = {
        "SPEC": str(SPEC),
        "SPECPATH": str(PACKAGING),
        "specnm": SPEC.stem,
        "DISTPATH": str(REPO_ROOT / "dist"),
        "workpath": str(REPO_ROOT / "build" / SPEC.stem),
        "Analysis": Analysis,
        "PYZ": lambda *args, **kwargs: None,
        "EXE": EXE,
        "COLLECT": COLLECT,
        "BUNDLE": lambda *args, **kwargs: None,
    }
    saved_path = list(sys.path)
    try:
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("make_icons", None)
    return build


def _launcher_entry(script: Path) -> str:
    """'module:function' that a launcher script imports and calls under __main__."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imports = {
        alias.asname or alias.name: f"{node.module}:{alias.name}"
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    called = [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imports
    ]
    assert len(called) == 1, f"{script.name} should call exactly one imported entry point, calls {called}"
    return imports[called[0]]


def _console_scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata says the same
        from importlib.metadata import distribution

        entry_points = distribution("leaf-annotate").entry_points
        return {ep.name: ep.value for ep in entry_points if ep.group == "console_scripts"}
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


@pytest.fixture(scope="module")
def spec_build() -> SpecBuild:
    return _exec_spec()


def test_spec_builds_one_executable_per_console_script(spec_build):
    built = {
        exe["name"]: _launcher_entry(Path(analysis["scripts"][0]))
        for analysis, exe in zip(spec_build.analyses, spec_build.executables)
    }
    assert built == _console_scripts()
    assert spec_build.collect["name"] == "leaf-annotate"
    assert len(spec_build.collect["items"]) == 3 * len(built)  # executables, binaries, datas
    windowed = {exe["name"]: exe["console"] for exe in spec_build.executables}
    assert windowed == {"leaf-annotate": False, "leaf": True}


@pytest.mark.parametrize("entry", sorted(set(_console_scripts().values())))
def test_entry_points_are_importable(entry):
    module_name, function_name = entry.split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function_name, None)), f"{module_name} has no function {function_name}()"


def test_spec_bundles_existing_resources_and_every_engine_module(spec_build):
    for analysis in spec_build.analyses:
        for script in analysis["scripts"]:
            assert Path(script).is_file(), f"the spec's entry script {script} does not exist"
        from leaf_core.weights import WEIGHTS_DIR

        taesd = WEIGHTS_DIR / "taesd"
        # the embedded TAESD lands where leaf_core.weights looks for it in a frozen app (beside the package)
        assert analysis["datas"] == [(str(REPO_ROOT / "resources"), "resources"),
                                     (str(taesd), taesd.relative_to(REPO_ROOT).as_posix())]
        for source, _ in analysis["datas"]:
            assert Path(source).is_dir(), f"the spec bundles {source}, which does not exist"
        hidden = analysis["hiddenimports"]
        # the CLI loads its sub-commands by name: they must be listed for the bundle
        assert {m for m in COMMAND_MODULES if importlib.util.find_spec(m)} <= set(hidden)
        assert {"leaf_core", "leaf_app", "leaf_app.main", "leaf_core.cli.main"} <= set(hidden)
        # compiled skimage code imports this; found only at run time (the frozen app failed without it)
        assert "skimage._shared.geometry" in hidden
        # diffusers checks its dependencies' metadata at import; contrib has no hook for it
        assert [Path(h) for h in analysis["hookspath"]] == [PACKAGING / "hooks"]
        assert (PACKAGING / "hooks" / "hook-diffusers.py").is_file()
        for module in (m for m in hidden if m.startswith("leaf_")):
            relative = Path(*module.split("."))
            assert (REPO_ROOT / relative).with_suffix(".py").is_file() or (REPO_ROOT / relative / "__init__.py").is_file()


def test_bundle_resources_are_what_the_app_looks_up(spec_build, monkeypatch, tmp_path):
    (_, bundle_folder), _weights = spec_build.analyses[0]["datas"]
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resources_root() == tmp_path / bundle_folder


def test_resource_path_in_a_source_checkout():
    assert resources.resources_root() == REPO_ROOT / "resources"
    assert resources.resource_path("icons/leaf-annotate.svg") == ICONS / "leaf-annotate.svg"


def test_resource_path_in_a_pyinstaller_bundle(monkeypatch, tmp_path):
    icon = tmp_path / "resources" / "icons" / "leaf-annotate.png"
    icon.parent.mkdir(parents=True)
    icon.write_bytes(b"png")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_path("icons/leaf-annotate.png") == icon


def test_missing_resource_names_the_file_and_the_folder():
    with pytest.raises(FileNotFoundError, match=r"'icons/nope\.svg'.*resources"):
        resources.resource_path("icons/nope.svg")


def test_icons_are_a_valid_svg_and_a_256px_png():
    svg = (ICONS / "leaf-annotate.svg").read_text(encoding="utf-8")
    assert re.search(r'<svg[^>]*viewBox="0 0 256 256"', svg)
    with Image.open(ICONS / "leaf-annotate.png") as png:
        assert png.format == "PNG" and png.size == (256, 256) and png.mode == "RGBA"
        assert png.getpixel((0, 0))[3] == 0 and png.getpixel((128, 128))[3] == 255  # rounded, opaque


@pytest.mark.parametrize(("platform", "suffix", "sizes"), [("win32", ".ico", 256), ("darwin", ".icns", 1024)])
def test_windows_and_macos_icons_render_from_the_svg(monkeypatch, tmp_path, platform, suffix, sizes):
    sys.path.insert(0, str(PACKAGING))
    try:
        make_icons = importlib.import_module("make_icons")
    finally:
        sys.path.remove(str(PACKAGING))
        sys.modules.pop("make_icons", None)
    monkeypatch.setattr(make_icons, "BUILD_ICONS", tmp_path)
    icon = make_icons.platform_icon(platform)
    assert icon == tmp_path / f"leaf-annotate{suffix}"
    with Image.open(icon) as image:
        assert image.size == (sizes, sizes)
    assert make_icons.platform_icon("linux") is None


def _desktop_entry() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP_FILE, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_file_keys():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "LEAF Annotate"
    assert entry["Exec"].split()[0] in _console_scripts()
    assert entry["Terminal"] == "false"
    categories = entry["Categories"]
    assert categories.endswith(";")
    # MedicalSoftware is an additional category: it must come with its main category Science.
    assert {"Science", "MedicalSoftware"} <= set(categories.rstrip(";").split(";"))
    # Icon is a theme name that the install step fills from resources/icons.
    assert "/" not in entry["Icon"]
    assert (ICONS / f"{entry['Icon']}.svg").is_file() and (ICONS / f"{entry['Icon']}.png").is_file()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-validate not installed")
def test_desktop_file_passes_desktop_file_validate():
    result = subprocess.run(["desktop-file-validate", str(DESKTOP_FILE)], capture_output=True, text=True)
    assert result.returncode == 0 and "error" not in result.stdout, result.stdout + result.stderr


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # the first pytest command in the README, with its interpreter and environment prefix
    command = re.search(r"(?:[A-Z_]+=\S+ )*(?:python3? -m )?pytest[^`\n]*", readme)
    assert command is not None, "README.md shows no test command"
    assert command.group(0).strip() in ci, f"README's test command {command.group(0)!r} is not in .ci/run"
    assert subprocess.run(["bash", "-n", str(REPO_ROOT / ".ci" / "run")]).returncode == 0
