"""The GPUs of this machine as NVIDIA's driver reports them (nvidia-ml-py), for the Train page.

Only the driver library is asked, never CUDA, so a page or a CLI call reads the GPUs without
importing torch and without taking GPU memory. A machine without an NVIDIA GPU or driver simply
has none: :func:`list_gpus` then returns an empty list.

Example
-------
>>> isinstance(list_gpus(), list)
True
>>> visible_indices({"CUDA_VISIBLE_DEVICES": "1,0"}, 4)
[1, 0]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from svcqa.core.records import Record


@dataclass(frozen=True)
class GpuInfo(Record):
    """One GPU at one moment: its driver index, name, load and memory."""

    index: int
    name: str
    uuid: str
    utilization_percent: int | None
    """Share of the last sample period a kernel ran; None when the driver does not say."""
    memory_used_bytes: int
    memory_total_bytes: int


def list_gpus() -> list[GpuInfo]:
    """Return every NVIDIA GPU the driver sees, in driver order; [] when there is no GPU or driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no library, no device: all mean "no GPU here"
        return []
    try:
        return [_read(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError:
        return []
    finally:
        pynvml.nvmlShutdown()


def _read(pynvml: Any, index: int) -> GpuInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        utilization: int | None = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        utilization = None  # e.g. a MIG slice has no utilisation counter
    return GpuInfo(
        index=index,
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        utilization_percent=utilization,
        memory_used_bytes=int(memory.used),
        memory_total_bytes=int(memory.total),
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def visible_indices(env: Mapping[str, str] | None, count: int) -> list[int]:
    """Return the driver indices of the GPUs a process with ``env`` may use, out of ``count``.

    ``CUDA_VISIBLE_DEVICES`` given as indices is honoured; unset means all of them. UUIDs
    there cannot be mapped without the driver and count as all GPUs.
    """
    env = os.environ if env is None else env
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return list(range(count))
    indices = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            return list(range(count))
        index = int(part)
        if index < 0 or index >= count:
            break  # CUDA ignores the rest of the list after an invalid entry
        indices.append(index)
    return indices


def gpus_for(env: Mapping[str, str] | None = None) -> list[GpuInfo]:
    """Return the GPUs a training started with ``env`` would use: so-vits-svc-fork takes all it sees."""
    gpus = list_gpus()
    by_index = {gpu.index: gpu for gpu in gpus}
    return [by_index[i] for i in visible_indices(env, len(gpus)) if i in by_index]
