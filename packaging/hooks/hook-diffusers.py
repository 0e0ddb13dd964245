"""PyInstaller hook for diffusers (pyinstaller-hooks-contrib has none).

At import time diffusers checks the versions of its dependencies (requests, filelock, numpy,
torch, ...) through their package metadata; without it a frozen `leaf` stops with
"No package metadata was found for requests". Same approach as the contrib hook for transformers:
copy the metadata of every dependency in diffusers' table that the build environment satisfies.
"""

from PyInstaller.utils.hooks import copy_metadata, get_module_attribute, is_module_satisfies, logger

datas = copy_metadata("diffusers")
try:
    dependencies = get_module_attribute("diffusers.dependency_versions_table", "deps")
except Exception:
    logger.warning("hook-diffusers: cannot read diffusers.dependency_versions_table.deps", exc_info=True)
    dependencies = {}
for name, requirement in dependencies.items():
    if not is_module_satisfies(requirement):
        continue
    try:
        datas += copy_metadata(name)
    except Exception:  # listed but not installed: diffusers treats it as absent
        pass
