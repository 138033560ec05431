"""Separation speed, as x real time, through audio-separator with the default models' real shapes.

Run: ``.venv/bin/python benchmarks/separate.py [--shapes real|small] [--song-s 12] [--stages
vocals,dereverb,karaoke] [--device cpu|cuda] [--workdir DIR] [--json OUT]``.

The models are random-weight stand-ins in the defaults' own architectures
(:mod:`svcqa.demo.separation_stand_ins`): BS-Roformer-Viperx-1297 (12 layers, 512 wide, 8 s
windows of which 4 overlap), UVR-DeEcho-DeReverb (VR 5.1) and 5_HP-Karaoke-UVR (VR v5), built
once into ``--workdir``. Speed does not depend on what the weights learned. The song is a
synthetic stereo 44.1 kHz mix; every stage is timed from the separator's progress reports,
loading apart from separating.

The JSON holds, per stage, ``load_s``, ``separate_s`` and ``x_real_time`` (song seconds per
second of separating), the whole run's ``x_real_time``, the torch threads and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core.files import atomic_write_json
from svcqa.core.settings import SeparationSettings
from svcqa.demo.separation_stand_ins import SHAPES, STAGES, build_separation_stand_ins
from svcqa.engines.separation import separate

REPO = Path(__file__).resolve().parent.parent
SR = 44_100


def write_song(path: Path, duration_s: float) -> None:
    """Write a stereo mix: a vibrato voice over a bass line and noise, ``duration_s`` long."""
    t = np.arange(int(duration_s * SR)) / SR
    rng = np.random.default_rng(0)
    voice = 0.25 * np.sin(2 * np.pi * 330 * t + 3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.25 * np.sin(2 * np.pi * 82.4 * t)
    noise = 0.02 * rng.standard_normal((t.size, 2))
    sf.write(path, np.stack([voice + bass, 0.8 * voice + bass], axis=1) + noise, SR, subtype="PCM_16")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the stand-ins, separate the song stage by stage, and return the figures."""
    import torch

    stages = tuple(args.stages.split(","))
    folder = args.workdir.absolute() / f"separation-{args.shapes}"
    marker = folder / f".built-{'-'.join(stages)}"
    if not marker.is_file():
        print(f"building the {args.shapes} stand-ins (once)...", flush=True)
        build_separation_stand_ins(folder, args.shapes, stages)
        marker.touch()
    song = folder.parent / f"song_{args.song_s:g}s.wav"
    write_song(song, args.song_s)
    marks: list[tuple[float, str]] = []
    settings = SeparationSettings(stages=stages, allow_download=False)
    load_before = os.getloadavg()
    started = time.perf_counter()
    separate(
        song,
        folder.parent / "stems",
        folder,
        settings,
        progress=lambda _fraction, message: marks.append((time.perf_counter(), message)),
    )
    total_s = time.perf_counter() - started
    per_stage = {}
    for stage in stages:
        loading = next(t for t, m in marks if m.startswith(f"{stage}: loading"))
        separating = next(t for t, m in marks if m.startswith(f"{stage}: separating"))
        ended = next((t for t, m in marks if t > separating and not m.startswith(stage)), marks[-1][0])
        per_stage[stage] = {
            "load_s": separating - loading,
            "separate_s": ended - separating,
            "x_real_time": args.song_s / (ended - separating),
        }
    return {
        "shapes": args.shapes,
        "device": args.device,
        "song_s": args.song_s,
        "stages": per_stage,
        "total_s": total_s,
        "x_real_time": args.song_s / total_s,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", choices=SHAPES, default="real")
    parser.add_argument("--song-s", type=float, default=12.0, help="song length in seconds")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (CUDA_VISIBLE_DEVICES decides)")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".bench", help="models are built once into DIR"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON to OUT")
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # audio-separator takes the GPU whenever it sees one
    figures = run(args)
    print(
        f"{args.shapes} shapes on {args.device}, {figures['torch_threads']} torch threads; "
        f"{args.song_s:g} s song; load average {figures['load_average_before'][0]:.1f} before, "
        f"{figures['load_average_after'][0]:.1f} after"
    )
    for stage, found in figures["stages"].items():
        print(
            f"{stage:9} load {found['load_s']:6.1f} s, separate {found['separate_s']:7.1f} s: "
            f"{found['x_real_time']:.3f}x real time"
        )
    print(f"all stages: {figures['total_s']:.1f} s, {figures['x_real_time']:.3f}x real time")
    if args.json:
        atomic_write_json(args.json, figures)


if __name__ == "__main__":
    main()
