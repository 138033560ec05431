"""The song-to-cover pipeline: per-stage caching, re-runs, failures, and the song left alone.

Separation runs through the real audio-separator with the tiny stand-in models; conversion uses
a small test converter (a gain), so these tests need no trained model. The page test and
``tests/test_render.py`` run the real conversion engine.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core import jobs
from svcqa.core.errors import ModelMissingError, SvcqaError
from svcqa.core.settings import ConversionSettings, CoverSettings, MixSettings, SeparationSettings
from svcqa.core.workspace import Workspace
from svcqa.cover import jobs as cover_jobs
from svcqa.cover import pipeline as cover
from svcqa.cover.conversion import ConversionInput
from svcqa.cover.pipeline import run_cover
from svcqa.cover.records import CoverRequest
from svcqa.demo.tiny_separation_model import TINY_MODELS, build_tiny_separation_models
from svcqa.engines import separation_models
from svcqa.engines.separation_models import MODEL_ENV_VAR
from svcqa.train import checkpoints
from tests.audio_files import tree_fingerprint

SR = 44_100
SONG_S = 2.0


@dataclass
class GainConverter:
    """A stand-in converter: the vocals times a gain that depends on the transpose."""

    name: str = "test-gain"
    fail_with: str | None = None
    calls: list[ConversionInput] = field(default_factory=list)

    def convert(self, job: ConversionInput, echo: Callable[[str], None] | None) -> None:
        self.calls.append(job)
        if self.fail_with:
            raise SvcqaError(self.fail_with)
        audio, rate = sf.read(job.vocals)
        sf.write(job.out, audio.mean(axis=1) * 0.5 * 2 ** (job.transpose_semitones / 12), rate)


def write_song(path: Path, seconds: float = SONG_S) -> Path:
    """Write a stereo 'song': a vibrato tone (the voice) over a bass line."""
    t = np.arange(int(seconds * SR)) / SR
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.3 * np.sin(2 * np.pi * 82.4 * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([voice + bass, 0.8 * voice + bass], axis=1), SR, subtype="PCM_16")
    return path


def register_stand_in_checkpoint(ws: Workspace, step: int = 100) -> checkpoints.Checkpoint:
    """Register a G_<step>.pth of random bytes with a config naming one speaker beside it."""
    ws.logs_44k.mkdir(parents=True, exist_ok=True)
    (ws.logs_44k / "config.json").write_text(json.dumps({"spk": {"singer": 0}}), encoding="utf-8")
    path = ws.logs_44k / f"G_{step}.pth"
    path.write_bytes(np.random.default_rng(step).bytes(4096))
    return checkpoints.register(ws, path, settle_s=0.01)


@pytest.fixture(autouse=True)
def _no_model_dir_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def tiny_separation() -> SeparationSettings:
    return SeparationSettings(
        vocals_model=TINY_MODELS["vocals"].filename,
        dereverb_model=TINY_MODELS["dereverb"].filename,
        karaoke_model=TINY_MODELS["karaoke"].filename,
        allow_download=False,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "ws").ensure_layout()
    build_tiny_separation_models(workspace.separation_models)
    write_song(workspace.songs / "song.wav")
    return workspace


def make_request(ws: Workspace, separation: SeparationSettings) -> CoverRequest:
    checkpoint = register_stand_in_checkpoint(ws)
    return CoverRequest(
        song=str(ws.songs / "song.wav"),
        checkpoint=checkpoint.sha256,
        separation=separation,
        cover=CoverSettings(f0_method="parselmouth"),
    )


@pytest.fixture
def request_(ws: Workspace, tiny_separation: SeparationSettings) -> CoverRequest:
    return make_request(ws, tiny_separation)


@pytest.fixture(scope="module")
def first_run_cache(tmp_path_factory: pytest.TempPathFactory, tiny_separation: SeparationSettings) -> Path:
    """The covers folder after one full run (test-gain converter), made once per module."""
    workspace = Workspace(tmp_path_factory.mktemp("first") / "ws").ensure_layout()
    build_tiny_separation_models(workspace.separation_models)
    write_song(workspace.songs / "song.wav")
    run_cover(workspace, make_request(workspace, tiny_separation), GainConverter())
    return workspace.renders / "covers"


@pytest.fixture
def warm(ws: Workspace, request_: CoverRequest, first_run_cache: Path) -> CoverRequest:
    """``request_`` in a workspace whose cache already holds the first run's every stage.

    The song, checkpoint and config are written byte for byte as in the first run, so the keys
    are the same and every stage is a cache hit.
    """
    shutil.copytree(first_run_cache, ws.renders / "covers", dirs_exist_ok=True)
    return request_


def statuses(result: cover.CoverResult) -> dict[str, str]:
    return {o.stage: o.status for o in result.outcomes}


def test_first_run_makes_every_stage_and_a_cover_at_the_loudness_target(
    ws: Workspace, request_: CoverRequest
) -> None:
    converter = GainConverter()
    progress: list[tuple[str, str]] = []
    result = run_cover(ws, request_, converter, progress=lambda s, st, f, m: progress.append((s, st)))

    assert statuses(result) == dict.fromkeys(cover.STAGES, "ran")
    assert result.complete and result.failed is None
    folder = Path(result.folder)
    assert folder == ws.renders / "covers" / result.song_digest[:16]
    for stage in cover.SEPARATION_STAGES:
        for which in ("output", "removed"):
            path = result.path(stage, which)
            assert path is not None and path.parent == folder and path.name.startswith(f"{stage}-")
            assert sf.info(path).frames == int(SONG_S * SR)
    assert result.path("vocals", "removed").name.endswith("-instrumental.wav")
    assert converter.calls[0].vocals == result.path("karaoke")
    assert converter.calls[0].speaker == "singer"
    mix = result.outcome("mix").record.details
    assert abs(mix["lufs"] - MixSettings().target_lufs) <= 0.5
    assert mix["true_peak_dbtp"] <= MixSettings().true_peak_ceiling_dbtp
    assert result.cover.suffix == ".wav" and sf.info(result.cover).duration == pytest.approx(SONG_S)
    assert ("vocals", "running") in progress and progress[-1] == ("mix", "ran")
    record = json.loads((folder / f"convert-{result.outcome('convert').key}.json").read_text())
    assert record["state"] == "done"
    assert record["inputs"]["vocals"] == result.outcome("karaoke").record.output_digest
    assert record["settings"]["transpose_semitones"] == 0


def test_second_run_is_a_cache_hit_for_every_stage_and_writes_nothing(
    ws: Workspace, warm: CoverRequest
) -> None:
    converter = GainConverter()
    folder = ws.renders / "covers"
    before = tree_fingerprint(folder)
    assert statuses(cover.plan(ws, warm, converter)) == dict.fromkeys(cover.STAGES, "cached")

    result = run_cover(ws, warm, converter)

    assert statuses(result) == dict.fromkeys(cover.STAGES, "cached")
    assert converter.calls == []
    assert tree_fingerprint(folder) == before
    assert result.cover.is_file()


def test_changed_transpose_reruns_convert_and_mix_only(ws: Workspace, warm: CoverRequest) -> None:
    converter = GainConverter()
    first_cover = cover.plan(ws, warm, converter).cover
    changed = dataclasses.replace(warm, cover=dataclasses.replace(warm.cover, transpose_semitones=-2))

    planned = cover.plan(ws, changed, converter)
    result = run_cover(ws, changed, converter)

    expected = {**dict.fromkeys(cover.SEPARATION_STAGES, "cached"), "convert": "ran", "mix": "ran"}
    assert statuses(planned) == {**expected, "convert": "pending", "mix": "pending"}
    assert statuses(result) == expected
    assert [call.transpose_semitones for call in converter.calls] == [-2]
    assert result.cover != first_cover and first_cover.is_file()


def test_changed_mix_balance_reruns_only_the_mix(ws: Workspace, warm: CoverRequest) -> None:
    louder = dataclasses.replace(warm, mix=dataclasses.replace(warm.mix, balance_db=4.0))

    result = run_cover(ws, louder, GainConverter())

    assert statuses(result) == {**dict.fromkeys(cover.STAGES[:-1], "cached"), "mix": "ran"}
    assert result.outcome("mix").record.settings["balance_db"] == 4.0


def test_changed_separation_setting_reruns_separation_and_later_stages_only_if_output_changed(
    ws: Workspace, warm: CoverRequest
) -> None:
    converter = GainConverter()
    # The stand-in models are a plain gain, so another overlap gives the same files: the
    # separation stages run again, but the conversion's input is unchanged and stays cached.
    other = dataclasses.replace(warm, separation=dataclasses.replace(warm.separation, mdx_overlap=0.5))

    result = run_cover(ws, other, converter)

    assert statuses(result) == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "ran"),
        "convert": "cached",
        "mix": "cached",
    }
    assert converter.calls == []


def test_failed_stage_records_why_and_keeps_the_earlier_outputs(
    ws: Workspace, request_: CoverRequest
) -> None:
    result = run_cover(ws, request_, GainConverter(name="flaky", fail_with="the model exploded"))

    assert statuses(result) == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "ran"),
        "convert": "failed",
        "mix": "pending",
    }
    failed = result.failed
    assert failed.stage == "convert" and failed.record.error == "the model exploded"
    assert result.cover is None
    for stage in cover.SEPARATION_STAGES:
        assert result.path(stage).is_file() and result.path(stage, "removed").is_file()
    replanned = cover.plan(ws, request_, GainConverter(name="flaky"))
    assert statuses(replanned) == {**statuses(result), **dict.fromkeys(cover.SEPARATION_STAGES, "cached")}
    assert replanned.failed.record.error == "the model exploded"

    fixed = run_cover(ws, request_, GainConverter(name="flaky"))

    assert statuses(fixed) == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "cached"),
        "convert": "ran",
        "mix": "ran",
    }


def test_rerun_runs_one_cached_stage_again_and_stops_after_it(ws: Workspace, warm: CoverRequest) -> None:
    converter = GainConverter()

    result = run_cover(ws, dataclasses.replace(warm, rerun="convert"), converter)

    # The gain converter writes the same file again, so the mix stays valid.
    assert statuses(result) == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "cached"),
        "convert": "ran",
        "mix": "cached",
    }
    assert len(converter.calls) == 1


def test_without_separation_the_song_is_converted_and_mixed_alone(
    ws: Workspace, request_: CoverRequest
) -> None:
    a_cappella = dataclasses.replace(request_, separation=dataclasses.replace(request_.separation, stages=()))
    converter = GainConverter()

    result = run_cover(ws, a_cappella, converter)

    assert statuses(result) == {"convert": "ran", "mix": "ran"}
    assert converter.calls[0].vocals == ws.songs / "song.wav"
    assert any("silent" in note for note in result.outcome("mix").record.details["notes"])


def test_nothing_in_songs_is_ever_written(ws: Workspace, warm: CoverRequest) -> None:
    before = tree_fingerprint(ws.songs)
    run_cover(ws, dataclasses.replace(warm, rerun="vocals"), GainConverter())
    run_cover(ws, warm, GainConverter(name="broken", fail_with="no"))
    assert tree_fingerprint(ws.songs) == before


def test_missing_model_offline_fails_before_any_stage_naming_file_and_folder(
    ws: Workspace, request_: CoverRequest
) -> None:
    (ws.separation_models / TINY_MODELS["dereverb"].filename).unlink()
    with pytest.raises(ModelMissingError) as caught:
        run_cover(ws, request_, GainConverter())
    assert TINY_MODELS["dereverb"].filename in str(caught.value)
    assert str(ws.separation_models) in str(caught.value)
    assert not (ws.renders / "covers").exists()


def test_unknown_checkpoint_and_stage_are_refused(ws: Workspace, request_: CoverRequest) -> None:
    with pytest.raises(SvcqaError, match="registered checkpoint"):
        cover.plan(ws, dataclasses.replace(request_, checkpoint="0" * 64))
    with pytest.raises(SvcqaError, match="Unknown separation stage"):
        cover.plan(ws, dataclasses.replace(request_, separation=SeparationSettings(stages=("drums",))))
    with pytest.raises(SvcqaError, match="Cannot re-run"):
        cover.plan(
            ws, dataclasses.replace(request_, separation=SeparationSettings(stages=()), rerun="vocals")
        )


def test_request_round_trips_through_json(request_: CoverRequest) -> None:
    data = json.loads(json.dumps(request_.to_dict()))
    assert CoverRequest.from_dict(data) == request_


def test_models_for_stage_keep_karaoke_models_apart_and_put_the_current_first(ws: Workspace) -> None:
    from svcqa.engines.separation_models import supported_models

    catalogue = supported_models(ws.separation_models)
    vocals = separation_models.models_for_stage(catalogue, "vocals", current="x.onnx")
    karaoke = separation_models.models_for_stage(catalogue, "karaoke")
    dereverb = separation_models.models_for_stage(catalogue, "dereverb")
    assert vocals[0] == "x.onnx" and vocals[1] == TINY_MODELS["vocals"].filename
    assert TINY_MODELS["karaoke"].filename not in vocals
    assert karaoke[0] == TINY_MODELS["karaoke"].filename
    assert dereverb[0] == TINY_MODELS["dereverb"].filename
    assert "UVR-De-Reverb-aufr33-jarredou.pth" in dereverb


def test_background_job_writes_progress_and_records_the_failed_stage(
    ws: Workspace, warm: CoverRequest, tmp_path: Path
) -> None:
    # Separation is cached, so the job only converts: with ContentVec absent and offline, the
    # engine cannot run and the stage fails with the message saying why.
    empty_hf_home = tmp_path / "hf"
    job = cover_jobs.start_job(ws, warm, env={"HF_HOME": str(empty_hf_home), "HF_HUB_OFFLINE": "1"})
    assert cover_jobs.latest_job(ws).id == job.id

    ended = jobs.wait(ws, job.id, timeout_s=120)

    assert ended.state == "failed", jobs.log_tail(ws, job.id)
    progress = cover_jobs.job_progress(ended)
    assert progress.finished
    lines = {s.stage: s.status for s in progress.stages}
    assert lines == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "cached"),
        "convert": "failed",
        "mix": "pending",
    }
    assert "ContentVec" in (progress.error or "")
    assert cover_jobs.job_request(ended) == warm
    assert "[convert] failed" in jobs.log_tail(ws, job.id)
    shutil.rmtree(empty_hf_home, ignore_errors=True)


def test_vocal_chain_settings_change_nothing_while_the_chain_is_off(
    ws: Workspace, warm: CoverRequest
) -> None:
    wetter = dataclasses.replace(warm, mix=dataclasses.replace(warm.mix, reverb_wet=0.9, highpass_hz=150.0))
    assert statuses(run_cover(ws, wetter, GainConverter())) == dict.fromkeys(cover.STAGES, "cached")


def test_changed_conversion_setting_reruns_the_conversion(ws: Workspace, warm: CoverRequest) -> None:
    converter = GainConverter()
    quieter = dataclasses.replace(warm, conversion=ConversionSettings(noise_scale=0.2))

    result = run_cover(ws, quieter, converter)

    # The gain converter ignores the noise, so its file is the same and the mix stays valid.
    expected = {**dict.fromkeys(cover.SEPARATION_STAGES, "cached"), "convert": "ran", "mix": "cached"}
    assert statuses(result) == expected
    assert [call.settings.noise_scale for call in converter.calls] == [0.2]
    assert result.outcome("convert").record.settings["noise_scale"] == 0.2


def test_request_without_conversion_settings_uses_the_workspaces(ws: Workspace, warm: CoverRequest) -> None:
    saved = ws.load_settings()
    ws.save_settings(saved.with_section("conversion", silence_threshold_db=-30))
    converter = GainConverter()

    result = run_cover(ws, warm, converter)

    assert statuses(result)["convert"] == "ran"
    assert converter.calls[0].settings.silence_threshold_db == -30
    assert result.outcome("convert").record.settings["slicing"]["db_thresh"] == -30


def test_default_speaker_is_the_lowest_id_whatever_the_key_order(
    ws: Workspace, request_: CoverRequest
) -> None:
    (ws.logs_44k / "config.json").write_text(json.dumps({"spk": {"tenor": 1, "alto": 0}}), encoding="utf-8")
    converter = GainConverter()
    run_cover(ws, dataclasses.replace(request_, separation=SeparationSettings(stages=())), converter)
    assert converter.calls[0].speaker == "alto"


def test_stage_keys_are_the_ones_stored_before() -> None:
    # Computed before the pipeline was split: cached stages of existing workspaces stay valid.
    assert cover.stage_key("vocals", {"audio": "ab" * 32}, {"model": "x.onnx", "mdx_overlap": 0.25}) == (
        "bad5fbe223394837"
    )
