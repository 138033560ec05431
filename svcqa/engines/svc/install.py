"""The installed so-vits-svc-fork: its folder, its version and its config templates.

Found without importing the package, which would import torch.

Example
-------
>>> config_template_path().name
'so-vits-svc-4.0v1.json'
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

from svcqa.core.errors import ModelMissingError

CONFIG_TEMPLATE = "so-vits-svc-4.0v1"


def package_dir() -> Path:
    """Return the folder of the installed so_vits_svc_fork package, without importing it."""
    spec = importlib.util.find_spec("so_vits_svc_fork")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            "so-vits-svc-fork is not installed. Install the project's requirements "
            "(pip install so-vits-svc-fork==4.2.30)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def version() -> str:
    """Return the installed so-vits-svc-fork's version (``missing`` when it is not installed)."""
    try:
        return importlib.metadata.version("so-vits-svc-fork")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def config_template_path(template: str = CONFIG_TEMPLATE) -> Path:
    """Return the config template ``svc pre-config -t template`` starts from."""
    return package_dir() / "preprocessing" / "config_templates" / f"{template}.json"
