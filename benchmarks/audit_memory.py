"""Audit memory: the peak of each worker and of the whole process tree while auditing N clips.

Run: ``.venv/bin/python benchmarks/audit_memory.py [--clips 1500] [--clip-s 6] [--workers N]``.
Every check is on (pitch, voice embedding, DNSMOS) as in a workspace's default settings, and the
clips are long enough for each to run. The tree is the audit process, the worker server that
preloads the libraries, and the workers; it is sampled every 0.5 s. RSS counts the shared
libraries in every process; PSS shares them out, so the tree's PSS is what the machine holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audio.encode import write_wav
from svcqa.core.settings import Settings
from svcqa.dataset.run import audit_dataset
from svcqa.demo.synth import sung_phrase

SR = 44_100
MIB = 2**20


def build_dataset(folder: Path, clips: int, clip_s: float) -> None:
    """Write ``clips`` sung clips of ``clip_s`` seconds (a few takes, each file a distinct gain and noise)."""
    takes = [sung_phrase([55 + i, 57 + i, 60 + i, 62 + i], clip_s / 4, SR, seed=i) for i in range(8)]
    for i in range(clips):
        noise = np.random.default_rng(i).normal(0, 1e-3, takes[0].size).astype(np.float32)
        write_wav(
            folder / f"clip_{i:04d}.wav",
            takes[i % len(takes)] * (0.4 + 0.5 * i / clips) + noise,
            SR,
            "PCM_16",
        )


class TreeSampler(threading.Thread):
    """Samples the memory of this process and its descendants until stopped."""

    def __init__(self, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.stop = threading.Event()
        self.peak = {
            "tree_rss": 0,
            "tree_pss": 0,
            "main_rss": 0,
            "worker_rss": 0,
            "worker_uss": 0,
            "workers": 0,
        }

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            try:
                children = me.children(recursive=True)
                main = me.memory_full_info()
                infos = [c.memory_full_info() for c in children]
                # Workers are forked by the worker server, which (like the resource tracker) is our child.
                servers = {c.pid for c in children if "multiprocessing.forkserver" in " ".join(c.cmdline())}
                workers = [i for c, i in zip(children, infos, strict=True) if c.ppid() in servers]
            except psutil.Error:
                continue
            peak = self.peak
            peak["tree_rss"] = max(peak["tree_rss"], main.rss + sum(i.rss for i in infos))
            peak["tree_pss"] = max(peak["tree_pss"], main.pss + sum(i.pss for i in infos))
            peak["main_rss"] = max(peak["main_rss"], main.rss)
            peak["worker_rss"] = max([peak["worker_rss"], *(w.rss for w in workers)])
            peak["worker_uss"] = max([peak["worker_uss"], *(w.uss for w in workers)])
            peak["workers"] = max(peak["workers"], len(workers))
            self.stop.wait(self.every_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=1500)
    parser.add_argument("--clip-s", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        build_dataset(folder, args.clips, args.clip_s)
        sampler = TreeSampler()
        sampler.start()
        start = time.perf_counter()
        report = audit_dataset(
            folder, Settings(), workers=args.workers, cache_path=Path(tmp) / "cache.sqlite", with_voice=True
        )
        elapsed_s = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
    assert len(report.clips) == args.clips
    peak = sampler.peak
    print(
        f"{args.clips} clips of {args.clip_s:g} s, every check on: {elapsed_s:.0f} s, {peak['workers']} workers"
    )
    print(
        f"  per worker: peak RSS {peak['worker_rss'] / MIB:.0f} MiB, of its own (USS) {peak['worker_uss'] / MIB:.0f} MiB"
    )
    print(
        f"  whole tree: peak PSS {peak['tree_pss'] / MIB:.0f} MiB (RSS summed {peak['tree_rss'] / MIB:.0f} MiB)"
    )
    print(f"  audit process: peak RSS {peak['main_rss'] / MIB:.0f} MiB")


if __name__ == "__main__":
    main()
