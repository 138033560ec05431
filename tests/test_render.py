"""The shared-feature renderer, its worker, CLI and page, with the tiny trained model on CPU.

One module-scoped workspace holds copies of the tiny trained generator with slightly perturbed
weights registered at several steps, a truncated checkpoint and one with another speaker count;
the worker renders it once and the tests read what it did.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from svcqa.audio.encode import write_wav
from svcqa.audio.loudness import integrated_lufs
from svcqa.cli.main import main
from svcqa.core import jobs
from svcqa.core.errors import ModelMissingError
from svcqa.core.settings import (
    ConversionSettings,
    CoverSettings,
    LoudnessSettings,
    RenderSettings,
    SeparationSettings,
    Settings,
)
from svcqa.core.workspace import Workspace
from svcqa.cover.conversion import EngineConverter
from svcqa.cover.pipeline import run_cover
from svcqa.cover.records import CoverRequest
from svcqa.demo.synth import silence, sung_phrase
from svcqa.demo.tiny_models import tiny_env
from svcqa.engines import svc
from svcqa.listen import excerpts, render, render_worker
from svcqa.train import checkpoints

if TYPE_CHECKING:
    from tests.svc_fixtures import TinyTraining

pytest_plugins = ["tests.svc_fixtures"]

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
SR = 44_100
THRESHOLD = 100
GOOD_STEPS = (100, 200, 300)
BELOW_STEP = 50
TRUNCATED_STEP = 400
OTHER_SPEAKERS_STEP = 500
SETTINGS = RenderSettings(min_step=THRESHOLD, f0_method="parselmouth")


@dataclass(frozen=True)
class Rendered:
    """The workspace after one worker pass, and what the pass did."""

    ws: Workspace
    env: dict[str, str]
    excerpt: excerpts.Excerpt
    silent_excerpt: excerpts.Excerpt
    made: int
    calls: Counter[str]
    log: list[str]


def _perturbed(trained: dict[str, Any], seed: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    weights = {
        name: value + 1e-3 * value.std().nan_to_num() * torch.randn(value.shape, generator=generator)
        if value.is_floating_point() and value.numel() > 1
        else value
        for name, value in trained["model"].items()
    }
    return {"model": weights, "iteration": seed, "optimizer": None, "learning_rate": 1e-4}


def _write_checkpoints(tiny: TinyTraining, ws: Workspace) -> None:
    trained = torch.load(tiny.generator_path, map_location="cpu", weights_only=True)
    for step in (BELOW_STEP, *GOOD_STEPS):
        torch.save(_perturbed(trained, step), ws.logs_44k / f"G_{step}.pth")
    data = tiny.generator_path.read_bytes()
    (ws.logs_44k / f"G_{TRUNCATED_STEP}.pth").write_bytes(data[: len(data) // 2])
    other = _perturbed(trained, OTHER_SPEAKERS_STEP)
    other["model"]["emb_g.weight"] = torch.randn(3, other["model"]["emb_g.weight"].shape[1])
    torch.save(other, ws.logs_44k / f"G_{OTHER_SPEAKERS_STEP}.pth")


def _write_song(path: Path) -> None:
    pause = np.zeros(int(0.6 * SR), dtype=np.float32)
    phrases = [sung_phrase([60, 64, 67], 0.8, SR, seed=1), pause, sung_phrase([62, 65, 69], 0.8, SR, seed=2)]
    sf.write(path, np.concatenate(phrases), SR, subtype="PCM_16")


@pytest.fixture
def count_feature_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count so-vits-svc-fork's ContentVec and f0 calls while the test runs."""
    return _spy(monkeypatch)


def _spy(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    import so_vits_svc_fork.f0
    from so_vits_svc_fork import utils

    calls: Counter[str] = Counter()

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(utils, "get_content", counting("get_content", utils.get_content))
    monkeypatch.setattr(
        so_vits_svc_fork.f0, "compute_f0", counting("compute_f0", so_vits_svc_fork.f0.compute_f0)
    )
    return calls


@pytest.fixture(scope="module")
def rendered(
    tiny_trained: TinyTraining, tiny_hf_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rendered]:
    """A workspace of perturbed checkpoints, a sung and a silent excerpt, after one worker pass."""
    ws = Workspace(tmp_path_factory.mktemp("render_ws")).ensure_layout()
    (ws.logs_44k / "config.json").write_bytes((tiny_trained.workspace.logs_44k / "config.json").read_bytes())
    _write_checkpoints(tiny_trained, ws)
    checkpoints.scan(ws, settle_s=0.01)
    ws.save_settings(ws.load_settings().with_section("render", min_step=THRESHOLD, f0_method="parselmouth"))
    _write_song(ws.songs / "song.wav")
    sf.write(ws.songs / "quiet.wav", silence(3.0, SR, noise_dbfs=-70.0), SR, subtype="PCM_16")
    (excerpt,) = excerpts.suggest_excerpts(ws, ws.songs / "song.wav", SETTINGS)
    silent = excerpts.make_excerpt(ws, ws.songs / "quiet.wav", 0.0, 3.0, "quiet", SETTINGS)
    excerpts.choose(ws, excerpt)
    excerpts.choose(ws, silent)
    env = tiny_env(tiny_hf_home)
    log: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        calls = _spy(patch)
        made = render_worker.run(ws, once=True, env=env, log=log.append)
    yield Rendered(ws, env, excerpt, silent, made, calls, log)


def _context(rendered: Rendered, settings: RenderSettings = SETTINGS) -> render.RenderContext:
    return render.render_context(rendered.ws, settings, rendered.env)


def _by_step(records: list[render.RenderRecord], excerpt_id: str) -> dict[int, render.RenderRecord]:
    return {r.checkpoint_step: r for r in records if r.excerpt_id == excerpt_id}


def test_every_checkpoint_past_the_threshold_gets_exactly_one_render(rendered: Rendered) -> None:
    records = render.list_renders(rendered.ws, settings_hash=_context(rendered).settings_hash)
    keys = Counter((r.checkpoint_sha256, r.excerpt_id) for r in records)
    assert set(keys.values()) == {1}
    steps = set(_by_step(records, rendered.excerpt.id))
    assert steps == {*GOOD_STEPS, TRUNCATED_STEP, OTHER_SPEAKERS_STEP}
    assert rendered.made == 2 * len(GOOD_STEPS)
    queue = render.render_queue(rendered.ws, _context(rendered), THRESHOLD)
    assert (len(queue.pending), len(queue.done), len(queue.failed)) == (0, 6, 4)
    again = render_worker.run(rendered.ws, once=True, env=rendered.env, log=lambda _line: None)
    assert again == 0
    assert render.list_renders(rendered.ws, settings_hash=_context(rendered).settings_hash) == records


def test_content_and_f0_are_computed_once_per_excerpt_not_per_checkpoint(rendered: Rendered) -> None:
    context = _context(rendered)
    features = svc.Features.load(
        render.features_path(rendered.ws, rendered.excerpt.id, context.features_hash)
    )
    sung_chunks = sum(chunk.speech for chunk in features.chunks)
    assert sung_chunks >= 1
    # The silent excerpt is noise at -70 dBFS: one chunk to track, nothing voiced in it.
    assert rendered.calls["get_content"] == sung_chunks + 1
    assert rendered.calls["compute_f0"] == sung_chunks + 1


def test_renders_are_loudness_matched_within_half_a_lu(rendered: Rendered) -> None:
    good = [r for r in _by_step(render.list_renders(rendered.ws), rendered.excerpt.id).values() if r.ok]
    measured = []
    for record in good:
        samples, rate = sf.read(rendered.ws.root / record.path, dtype="float32")
        measured.append(integrated_lufs(samples, rate))
        assert np.max(np.abs(samples)) < 10 ** (SETTINGS.peak_ceiling_dbtp / 20) + 1e-3
    assert len(measured) == len(GOOD_STEPS)
    assert max(measured) - min(measured) <= 0.5
    assert all(abs(lufs - SETTINGS.target_lufs) <= 0.5 for lufs in measured)


def test_broken_checkpoints_fail_with_their_reason_and_the_others_render(rendered: Rendered) -> None:
    records = _by_step(render.list_renders(rendered.ws), rendered.excerpt.id)
    assert all(records[step].ok and (rendered.ws.root / records[step].path).is_file() for step in GOOD_STEPS)
    truncated = records[TRUNCATED_STEP]
    assert truncated.path is None
    assert "could not be read" in truncated.error and f"G_{TRUNCATED_STEP}.pth" in truncated.error
    other = records[OTHER_SPEAKERS_STEP].error
    assert "3 speaker slots" in other and "config has 200" in other


def test_same_checkpoint_and_settings_render_identically_and_hit_the_cache(
    rendered: Rendered, count_feature_calls: Counter[str]
) -> None:
    context = _context(rendered)
    checkpoint = checkpoints.list_checkpoints(rendered.ws, min_step=GOOD_STEPS[-1])[0]
    renderer = render.Renderer(rendered.ws, context)
    (cached,) = renderer.render([(checkpoint, rendered.excerpt)])
    assert cached.cached and cached.ok
    before, _ = sf.read(rendered.ws.root / cached.path, dtype="float32")
    (again,) = renderer.render([(checkpoint, rendered.excerpt)], force=True)
    assert not again.cached and again.path == cached.path
    after, _ = sf.read(rendered.ws.root / again.path, dtype="float32")
    assert np.array_equal(before, after)
    assert count_feature_calls["get_content"] == 0  # the features came from the disk cache
    assert renderer.features_computed == 0


def test_a_changed_setting_renders_anew_from_the_cached_features(
    rendered: Rendered, count_feature_calls: Counter[str]
) -> None:
    base, transposed = (
        _context(rendered),
        _context(
            rendered, RenderSettings(min_step=THRESHOLD, f0_method="parselmouth", transpose_semitones=3)
        ),
    )
    assert transposed.settings_hash != base.settings_hash
    assert transposed.features_hash == base.features_hash
    queue = render.render_queue(rendered.ws, transposed, THRESHOLD, [rendered.excerpt])
    assert len(queue.pending) == len(GOOD_STEPS) + 2
    checkpoint = queue.pending[0][0]
    (record,) = render.Renderer(rendered.ws, transposed).render([(checkpoint, rendered.excerpt)])
    assert record.ok and not record.cached and record.settings_hash == transposed.settings_hash
    original = _by_step(render.list_renders(rendered.ws, base.settings_hash), rendered.excerpt.id)[
        checkpoint.step
    ]
    assert record.path != original.path
    assert count_feature_calls["get_content"] == 0


def test_an_excerpt_without_voice_renders_silence_and_says_so(rendered: Rendered) -> None:
    records = _by_step(render.list_renders(rendered.ws), rendered.silent_excerpt.id)
    for step in GOOD_STEPS:
        record = records[step]
        assert record.ok and record.silent and record.lufs is None
        assert "No voice in this excerpt" in record.message
        samples, rate = sf.read(rendered.ws.root / record.path, dtype="float32")
        assert rate == SR and samples.size == 3 * SR and not np.any(samples)


def test_worker_waits_while_training_runs_when_asked(rendered: Rendered) -> None:
    ws = rendered.ws
    settings = ws.load_settings()
    ws.save_settings(settings.with_section("render", only_while_training_stopped=True))
    training = jobs.start(ws, "train", [sys.executable, "-c", "import time; time.sleep(60)"])
    excerpt = excerpts.choose(ws, excerpts.make_excerpt(ws, ws.songs / "song.wav", 0.0, 1.5, "", SETTINGS))
    try:
        log: list[str] = []
        assert render_worker.run(ws, once=True, env=rendered.env, log=log.append) == 0
        assert log == ["Training is running; rendering waits until it stops."]
    finally:
        jobs.stop(ws, training.id, timeout_s=5)
        ws.save_settings(settings)
        excerpts.unchoose(ws, excerpt.id)


def test_background_worker_job_renders_a_new_excerpt(rendered: Rendered) -> None:
    ws = rendered.ws
    excerpt = excerpts.choose(ws, excerpts.make_excerpt(ws, ws.songs / "song.wav", 0.0, 2.0, "", SETTINGS))
    job = render_worker.start(ws, once=True, env=rendered.env)
    finished = jobs.wait(ws, job.id, timeout_s=240)
    excerpts.unchoose(ws, excerpt.id)
    assert finished.state == "succeeded", jobs.log_tail(ws, job.id, 40)
    records = _by_step(render.list_renders(ws, _context(rendered).settings_hash), excerpt.id)
    assert {step for step, r in records.items() if r.ok} == set(GOOD_STEPS)
    assert "renders pending" in jobs.log_tail(ws, job.id, 40)


def test_worker_spreads_the_checkpoints_over_two_cpu_processes_and_renders_what_one_renders(
    rendered: Rendered, count_feature_calls: Counter[str]
) -> None:
    ws = rendered.ws
    settings = ws.load_settings()
    # One thread each, so a render is bit-identical whichever process made it.
    ws.save_settings(settings.with_section("render", devices=2).with_section("conversion", cpu_threads=1))
    excerpt = excerpts.choose(ws, excerpts.make_excerpt(ws, ws.songs / "song.wav", 0.2, 2.2, "", SETTINGS))
    try:
        log: list[str] = []
        made = render_worker.run(ws, once=True, env=rendered.env, log=log.append)
        context = render.render_context(ws, ws.load_settings().render, rendered.env)
        records = _by_step(render.list_renders(ws, context.settings_hash), excerpt.id)
        spread = [line for line in log if line.startswith("Process ")]
        (checkpoint,) = checkpoints.list_checkpoints(ws, min_step=GOOD_STEPS[1])[:1]
        two_processes, _ = sf.read(ws.root / records[checkpoint.step].path, dtype="float32")
        (again,) = render.Renderer(ws, context).render([(checkpoint, excerpt)], force=True)
        one_process, _ = sf.read(ws.root / again.path, dtype="float32")
    finally:
        ws.save_settings(settings)
        excerpts.unchoose(ws, excerpt.id)
    assert made == len(GOOD_STEPS)
    assert {step for step, r in records.items() if r.ok} == set(GOOD_STEPS)
    assert any("over 2 processes (cpu, cpu)" in line for line in log)
    assert len(spread) == 2 and len({line.split()[1] for line in spread}) == 2  # two pids
    assert count_feature_calls["get_content"] >= 1  # features made once, here, for the new excerpt
    assert np.array_equal(two_processes, one_process)


def test_cli_render_reports_every_checkpoint_as_json(
    rendered: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in rendered.env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "renders.json"
    span = f"{rendered.excerpt.start_s}:{rendered.excerpt.end_s}"
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(rendered.ws.root),
            "--song",
            str(rendered.ws.songs / "song.wav"),
            "--excerpt",
            span,
            "--min-step",
            str(THRESHOLD),
            "--f0-method",
            "parselmouth",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["excerpt"]["id"] == rendered.excerpt.id
    rows = {row["checkpoint_step"]: row for row in data["renders"]}
    assert set(rows) == {*GOOD_STEPS, TRUNCATED_STEP, OTHER_SPEAKERS_STEP}
    for step in GOOD_STEPS:
        assert rows[step]["cached"] is True and rows[step]["error"] is None
        assert abs(rows[step]["lufs"] - SETTINGS.target_lufs) <= 0.5
        assert (rendered.ws.root / rows[step]["path"]).is_file()
    assert rows[TRUNCATED_STEP]["error"] and rows[TRUNCATED_STEP]["path"] is None
    assert {"checkpoint_sha256", "path", "lufs", "cached", "error"} <= set(rows[TRUNCATED_STEP])


def test_cli_render_without_checkpoints_past_the_step_exits_1(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in rendered.env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(rendered.ws.root),
            "--song",
            str(rendered.ws.songs / "song.wav"),
            "--min-step",
            "1000000",
        ],
    )
    assert result.exit_code == 1
    assert "No checkpoint at or past step 1000000" in result.output


def test_renders_page_picks_an_excerpt_shows_the_queue_and_plays_renders(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(rendered.ws.root))
    for name, value in rendered.env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/render.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="render_song").value == "quiet.wav"
    at.selectbox(key="render_song").select("song.wav").run()
    assert at.number_input(key="render_start_s").value == rendered.excerpt.start_s
    assert at.number_input(key="render_end_s").value == rendered.excerpt.end_s
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Failed"] == str(2 * 2)  # two broken checkpoints on the sung and the silent excerpt
    at.number_input(key="render_start_s").set_value(0.5).run()
    at.number_input(key="render_end_s").set_value(2.5).run()
    at.button(key="render_add_excerpt").click().run()
    assert not at.exception, at.exception
    assert any("Every checkpoint will render" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Pending"] == str(len(GOOD_STEPS) + 2)
    at.selectbox(key="render_listen_excerpt").select(rendered.excerpt.id).run()
    assert len(at.get("audio")) == 1 + len(GOOD_STEPS)  # the source and one player per rendered checkpoint
    assert any("3 speaker slots" in c.value for c in at.caption)


def test_renders_page_on_a_fresh_workspace_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(tmp_path / "fresh"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/render.py").run()
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "No test song yet" in infos
    assert "preprocess and train a model first" in infos
    assert not at.get("audio")
    assert any("the same for renders and covers" in c.value for c in at.caption)


def test_excerpts_are_cut_and_decoded_with_svc_infer_defaults() -> None:
    import inspect

    from so_vits_svc_fork.inference.core import Svc

    defaults = {name: p.default for name, p in inspect.signature(Svc.infer_silence).parameters.items()}
    slicing = svc.slicing_kwargs(ConversionSettings())
    assert {name: defaults[name] for name in slicing} == slicing
    assert defaults["noise_scale"] == ConversionSettings().noise_scale


def test_render_context_finds_the_workspaces_own_contentvec(
    tiny_preprocessed, tiny_hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A demo workspace keeps its stand-in ContentVec in its own HF cache: a render worker started
    # from the page (no env given) must find it, not look in the user's cache.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "users_own_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ws = Workspace(tmp_path / "ws").ensure_layout()
    config = tiny_preprocessed.workspace.config_path
    ws.config_path.write_bytes(config.read_bytes())
    (ws.logs_44k / "config.json").write_bytes(config.read_bytes())
    with pytest.raises(ModelMissingError, match="content-vec-best"):
        render.render_context(ws, RenderSettings(f0_method="parselmouth"))
    svc.set_workspace_overrides(ws, env=tiny_env(tiny_hf_home))
    context = render.render_context(ws, RenderSettings(f0_method="parselmouth"))
    assert context.conversion.contentvec_snapshot.startswith(str(tiny_hf_home))


def test_render_ids_and_hashes_are_the_ones_workspaces_stored_before(tmp_path: Path) -> None:
    # Computed by the renderer before the conversion engine moved out of it: stored render ids and
    # cached features of existing workspaces must keep matching.
    conversion = svc.Conversion(
        config_path=Path("c.json"),
        model_fingerprint="0123456789abcdef",
        sample_rate_hz=44_100,
        hop_samples=512,
        contentvec_snapshot="/x/snapshots/" + "a" * 40,
        contentvec_final_proj=True,
        speaker="singer",
        speaker_id=0,
        f0_method="parselmouth",
        transpose_semitones=0,
        settings=ConversionSettings(),
    )
    context = render.RenderContext(conversion, -23.0, -1.0, LoudnessSettings())
    assert (context.features_hash, context.settings_hash) == ("1cfe388086b58379", "11b325caca31d4cb")
    assert render.render_id("cd" * 32, "ef34", context.settings_hash) == "f1c3eca78e26e21a"
    other = dataclasses.replace(
        conversion,
        contentvec_snapshot="",
        contentvec_final_proj=False,
        speaker="alto",
        speaker_id=3,
        f0_method="crepe",
        transpose_semitones=-5,
        settings=ConversionSettings(noise_scale=0.0, seed=7),
    )
    context = render.RenderContext(other, -20.0, -2.0, LoudnessSettings())
    assert (context.features_hash, context.settings_hash) == ("c0bb10e331f14a82", "a9f1d15b6875a0af")
    config = {
        "data": {"sampling_rate": 44_100, "hop_length": 512, "training_files": "a", "validation_files": "b",
                 "filter_length": 2048},
        "model": {"ssl_dim": 64},
        "spk": {"singer": 0},
        "train": {"segment_size": 4096},
    }  # fmt: skip
    assert svc.ModelConfig(tmp_path / "config.json", config).fingerprint == "bb43c1db9ae6dc80"


def test_the_covers_converted_vocals_are_the_render_of_the_same_song(
    rendered: Rendered, tmp_path: Path
) -> None:
    ws = rendered.ws
    song = ws.songs / "song.wav"
    settings = dataclasses.replace(SETTINGS, transpose_semitones=-2)
    whole = excerpts.make_excerpt(ws, song, 0.0, sf.info(song).frames / SR, "whole song", settings)
    checkpoint = checkpoints.list_checkpoints(ws, min_step=GOOD_STEPS[0])[0]
    context = _context(rendered, settings)
    (record,) = render.Renderer(ws, context).render([(checkpoint, whole)], force=True)
    request = CoverRequest(
        song=str(song),
        checkpoint=checkpoint.sha256,
        separation=SeparationSettings(stages=()),
        cover=CoverSettings(f0_method=settings.f0_method, transpose_semitones=settings.transpose_semitones),
    )

    result = run_cover(ws, request, EngineConverter(ws, env=rendered.env))

    converted, rate = sf.read(result.path("convert"), dtype="float32")
    assert result.outcome("convert").record.details["speaker"] == context.conversion.speaker
    # A render is the converted audio brought to the renders' loudness: do the same to the cover's.
    matched, _, _ = render.match_loudness(
        converted, rate, context.target_lufs, context.peak_ceiling_dbtp, context.loudness
    )
    write_wav(tmp_path / "cover_at_render_loudness.wav", matched, rate)
    ours = sf.read(tmp_path / "cover_at_render_loudness.wav", dtype="int16")[0]
    theirs = sf.read(ws.root / record.path, dtype="int16")[0]
    assert record.ok and not record.silent and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)


def test_settings_saved_before_conversion_had_its_section_keep_their_values() -> None:
    old = {"render": {"noise_scale": 0.2, "seed": 5, "device": "cpu", "cpu_threads": 3, "min_step": 7}}
    settings = Settings.from_dict(old)
    assert settings.conversion == ConversionSettings(noise_scale=0.2, seed=5, device="cpu", cpu_threads=3)
    assert settings.render.min_step == 7
    newer = Settings.from_dict({**old, "conversion": {"seed": 9}})
    assert (newer.conversion.seed, newer.conversion.noise_scale) == (9, 0.2)
