"""Pitch trackers: which so-vits-svc-fork supports, which run here, and what ``auto`` picks.

Example
-------
>>> F0_METHODS_BY_ACCURACY[0]
'crepe'
>>> check_f0_method("parselmouth")
'parselmouth'
"""

from __future__ import annotations

import ast
import importlib.util

from svcqa.core.errors import ModelMissingError, SvcqaError
from svcqa.engines.svc.install import package_dir

F0_METHODS_BY_ACCURACY: tuple[str, ...] = ("crepe", "crepe-tiny", "harvest", "parselmouth", "dio")
"""Pitch trackers svcqa knows, most accurate first (rmvpe is not in so-vits-svc-fork 4.2.30)."""

CPU_F0_METHOD = "parselmouth"
"""What ``auto`` picks without a CUDA GPU: crepe is the most accurate but takes many minutes per
minute of audio on a CPU, while Praat's tracker runs hundreds of times faster than real time."""

_F0_METHOD_MODULES: dict[str, str] = {
    "crepe": "torchcrepe",
    "crepe-tiny": "torchcrepe",
    "harvest": "pyworld",
    "parselmouth": "parselmouth",
    "dio": "pyworld",
}


def supported_f0_methods() -> tuple[str, ...]:
    """Return the f0 methods the installed so-vits-svc-fork accepts, read from its source.

    The list is the ``Literal`` of ``so_vits_svc_fork.f0.compute_f0``'s ``method`` argument,
    parsed without importing the package (which would import torch).
    """
    source = package_dir() / "f0.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "compute_f0":
            for arg in node.args.args:
                if arg.arg == "method" and isinstance(arg.annotation, ast.Subscript):
                    return tuple(ast.literal_eval(arg.annotation.slice))
    raise SvcqaError(f"Could not read the f0 methods from {source}; is so-vits-svc-fork 4.2.30?")


def available_f0_methods() -> tuple[str, ...]:
    """Return the f0 methods that so-vits-svc-fork supports and can run here, most accurate first."""
    supported = set(supported_f0_methods())
    return tuple(
        method
        for method in F0_METHODS_BY_ACCURACY
        if method in supported and importlib.util.find_spec(_F0_METHOD_MODULES[method]) is not None
    )


def resolve_f0_method(name: str) -> str:
    """Return ``name``, or for ``"auto"`` the most accurate method this machine runs in reasonable
    time: crepe with a CUDA GPU, else :data:`CPU_F0_METHOD` when installed."""
    available = available_f0_methods()
    if name == "auto":
        if not available:
            raise ModelMissingError(
                "No pitch tracker for so-vits-svc-fork is installed "
                "(install torchcrepe, praat-parselmouth or pyworld)."
            )
        if CPU_F0_METHOD in available and not has_cuda():
            return CPU_F0_METHOD
        return available[0]
    if name not in available:
        raise SvcqaError(f"f0 method {name!r} is not available here; choose one of {', '.join(available)}.")
    return name


def has_cuda() -> bool:
    """Return True when torch sees a CUDA GPU (imports torch only when asked)."""
    import torch

    return bool(torch.cuda.is_available())


def check_f0_method(name: str) -> str:
    """Return ``name`` when so-vits-svc-fork 4.2.30 knows it; :class:`SvcqaError` otherwise."""
    if name not in F0_METHODS_BY_ACCURACY:
        raise SvcqaError(
            f"Unknown f0 method {name!r}; so-vits-svc-fork 4.2.30 knows {', '.join(F0_METHODS_BY_ACCURACY)}."
        )
    return name
