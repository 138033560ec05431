"""Separation through the real audio-separator ``Separator``, offline, with tiny stand-in models."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from svcqa.audio import decode
from svcqa.core.errors import AudioError, ModelMissingError, SvcqaError
from svcqa.core.settings import SeparationSettings
from svcqa.demo.separation_stand_ins import ROFORMER_FILES, build_separation_stand_ins
from svcqa.demo.tiny_separation_model import (
    DOWNLOAD_CHECKS_FILE,
    DOWNLOAD_LIST_KEYS,
    HASH_TAIL_BYTES,
    MDX_DATA_FILE,
    TINY_MODELS,
    VR_DATA_FILE,
    build_tiny_separation_models,
    model_hash,
)
from svcqa.engines.separation import SeparationResult, separate
from svcqa.engines.separation_models import (
    MODEL_ENV_VAR,
    find_model,
    missing_files,
    missing_model_files,
    supported_models,
)

REPO = Path(__file__).resolve().parent.parent
SONG_SAMPLES = 2 * 44_100 + 123  # not a multiple of any block size, so padding bugs would show


@pytest.fixture(autouse=True)
def _no_model_dir_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A model folder holding all three stand-ins; treat as read-only (copy it to break it)."""
    folder = tmp_path_factory.mktemp("models")
    return folder, build_tiny_separation_models(folder)


@pytest.fixture(scope="module")
def tiny_settings(tiny_models: tuple[Path, dict[str, str]]) -> SeparationSettings:
    names = tiny_models[1]
    return SeparationSettings(
        vocals_model=names["vocals"],
        dereverb_model=names["dereverb"],
        karaoke_model=names["karaoke"],
        allow_download=False,
    )


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s stereo 44.1 kHz 'song': a sung-like tone over a bass line."""
    t = np.arange(SONG_SAMPLES) / 44_100
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.3 * np.sin(2 * np.pi * 82.4 * t)
    path = tmp_path_factory.mktemp("songs") / "My Song (live).wav"
    sf.write(path, np.stack([voice + bass, 0.8 * voice + bass], axis=1), 44_100, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def separated(
    tiny_models: tuple[Path, dict[str, str]],
    tiny_settings: SeparationSettings,
    song: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SeparationResult, list[tuple[float, str]], bytes]:
    """One real three-stage separation: result, progress calls, song bytes before the run."""
    before = song.read_bytes()
    calls: list[tuple[float, str]] = []
    result = separate(
        song,
        tmp_path_factory.mktemp("stems"),
        tiny_models[0],
        tiny_settings,
        progress=lambda fraction, message: calls.append((fraction, message)),
    )
    return result, calls, before


def _broken_copy(tiny_models: tuple[Path, dict[str, str]], tmp_path: Path, remove: str) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(tiny_models[0], folder)
    (folder / remove).unlink()
    return folder


def test_real_separator_writes_two_stems_per_stage_at_input_length(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes],
) -> None:
    result = separated[0]
    names = [(s.stage, s.kept.name, s.removed.name) for s in result.stages]
    assert names == [
        ("vocals", "Vocals", "Instrumental"),
        ("dereverb", "No Reverb", "Reverb"),
        ("karaoke", "Vocals", "Instrumental"),
    ]
    for stage in result.stages:
        for stem in (stage.kept, stage.removed):
            on_disk = sf.info(stem.path)
            assert (on_disk.samplerate, on_disk.frames, on_disk.channels) == (44_100, SONG_SAMPLES, 2)
            assert (stem.sample_rate_hz, stem.num_samples, stem.channels) == (44_100, SONG_SAMPLES, 2)
            assert stem.duration_s == pytest.approx(SONG_SAMPLES / 44_100)


def test_stem_files_are_named_song_stage_stem(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes],
) -> None:
    result = separated[0]
    files = sorted(Path(stem.path).name for s in result.stages for stem in (s.kept, s.removed))
    assert files == [
        "My-Song-live_dereverb_no-reverb.wav",
        "My-Song-live_dereverb_reverb.wav",
        "My-Song-live_karaoke_instrumental.wav",
        "My-Song-live_karaoke_vocals.wav",
        "My-Song-live_vocals_instrumental.wav",
        "My-Song-live_vocals_vocals.wav",
    ]


def test_result_hands_on_last_vocals_and_the_first_stage_accompaniment(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes],
) -> None:
    result = separated[0]
    assert result.vocals.path.endswith("My-Song-live_karaoke_vocals.wav")
    assert result.instrumental is not None
    assert result.instrumental.path.endswith("My-Song-live_vocals_instrumental.wav")
    assert result.device == "cpu"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["vocals"]["sample_rate_hz"] == 44_100
    assert [s["model_filename"] for s in data["stages"]] == [
        TINY_MODELS["vocals"].filename,
        TINY_MODELS["dereverb"].filename,
        TINY_MODELS["karaoke"].filename,
    ]


def test_stems_carry_the_song_not_silence(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes],
) -> None:
    result = separated[0]
    vocals, _ = sf.read(result.vocals.path)
    assert np.sqrt(np.mean(vocals**2)) > 0.01


def test_progress_rises_per_stage_and_ends_at_one(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes],
) -> None:
    fractions = [fraction for fraction, _ in separated[1]]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [m for _, m in separated[1] if "loading" in m] == [
        f"{stage}: loading {TINY_MODELS[stage].filename}" for stage in ("vocals", "dereverb", "karaoke")
    ]


def test_song_is_left_untouched(
    separated: tuple[SeparationResult, list[tuple[float, str]], bytes], song: Path
) -> None:
    assert song.read_bytes() == separated[2]


@pytest.mark.parametrize(
    "removed",
    [TINY_MODELS["vocals"].filename, MDX_DATA_FILE, VR_DATA_FILE, DOWNLOAD_CHECKS_FILE],
)
def test_missing_model_or_data_file_offline_names_file_and_folder(
    tiny_models: tuple[Path, dict[str, str]],
    tiny_settings: SeparationSettings,
    song: Path,
    tmp_path: Path,
    removed: str,
) -> None:
    folder = _broken_copy(tiny_models, tmp_path, removed)
    with pytest.raises(ModelMissingError) as caught:
        separate(song, tmp_path / "stems", folder, tiny_settings)
    assert removed in str(caught.value)
    assert str(folder) in str(caught.value)
    assert not (tmp_path / "stems").exists()


def test_failed_download_becomes_model_missing_error(
    tiny_models: tuple[Path, dict[str, str]],
    song: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("no network")

    monkeypatch.setattr(requests, "get", no_network)
    model = TINY_MODELS["vocals"].filename
    folder = _broken_copy(tiny_models, tmp_path, model)
    settings = SeparationSettings(stages=("vocals",), vocals_model=model, allow_download=True)
    with pytest.raises(ModelMissingError, match="no network") as caught:
        separate(song, tmp_path / "stems", folder, settings)
    assert model in str(caught.value)


def test_env_variable_folder_is_the_one_checked(
    tiny_models: tuple[Path, dict[str, str]],
    tiny_settings: SeparationSettings,
    song: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.setenv(MODEL_ENV_VAR, str(empty))
    with pytest.raises(ModelMissingError, match=DOWNLOAD_CHECKS_FILE) as caught:
        separate(song, tmp_path / "stems", tiny_models[0], tiny_settings)
    assert str(empty) in str(caught.value)


def test_model_outside_supported_list_is_refused(
    tiny_models: tuple[Path, dict[str, str]], song: Path, tmp_path: Path
) -> None:
    settings = SeparationSettings(stages=("vocals",), vocals_model="my_own.onnx", allow_download=False)
    with pytest.raises(SvcqaError, match=r"my_own\.onnx is not in audio-separator's supported"):
        separate(song, tmp_path / "stems", tiny_models[0], settings)


def test_model_whose_stems_do_not_fit_the_stage_is_refused(
    tiny_models: tuple[Path, dict[str, str]], song: Path, tmp_path: Path
) -> None:
    settings = SeparationSettings(
        stages=("dereverb",), dereverb_model=TINY_MODELS["vocals"].filename, allow_download=False
    )
    with pytest.raises(SvcqaError, match="writes the stems Instrumental and Vocals, but the dereverb"):
        separate(song, tmp_path / "stems", tiny_models[0], settings)


@pytest.mark.parametrize(
    ("stages", "message"),
    [((), "No separation stage selected"), (("vocals", "drums"), "Unknown separation stage")],
)
def test_bad_stage_selection_is_refused(
    tiny_models: tuple[Path, dict[str, str]],
    song: Path,
    tmp_path: Path,
    stages: tuple[str, ...],
    message: str,
) -> None:
    with pytest.raises(SvcqaError, match=message):
        separate(song, tmp_path, tiny_models[0], SeparationSettings(stages=stages, allow_download=False))


def test_undecodable_song_raises_audio_error(
    tiny_models: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    fake = tmp_path / "song.wav"
    fake.write_text("not audio")
    with pytest.raises(AudioError, match=r"Cannot decode the song song\.wav"):
        separate(fake, tmp_path / "stems", tiny_models[0], SeparationSettings(allow_download=False))


def test_supported_models_come_with_scores_and_installed_flag(
    tiny_models: tuple[Path, dict[str, str]],
) -> None:
    models = supported_models(tiny_models[0])
    hq5 = find_model(models, TINY_MODELS["vocals"].filename)
    assert hq5.arch == "MDX" and hq5.installed
    assert hq5.scores_db["vocals"]["SDR"] == pytest.approx(8.69, abs=0.01)
    assert hq5.required_files == (DOWNLOAD_CHECKS_FILE, hq5.filename, MDX_DATA_FILE, VR_DATA_FILE)
    assert missing_files(hq5, tiny_models[0]) == ()
    assert not any(m.installed for m in models if m.filename not in tiny_models[1].values())


def test_supported_models_offline_without_download_list_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match=DOWNLOAD_CHECKS_FILE):
        supported_models(tmp_path, allow_download=False)


def test_default_models_are_scored_supported_models_of_the_library() -> None:
    scores = json.loads(resources.files("audio_separator").joinpath("models-scores.json").read_text())
    defaults = SeparationSettings()
    vocals = scores[defaults.vocals_model]
    assert vocals["model_name"] == "Roformer Model: BS-Roformer-Viperx-1297"
    assert vocals["median_scores"]["instrumental"]["SDR"] > 16.0
    assert scores[defaults.dereverb_model]["stems"] == ["no reverb", "reverb"]
    assert scores[defaults.karaoke_model]["model_name"].endswith("5_HP-Karaoke-UVR")


def test_tiny_models_are_keyed_by_their_hash_with_mdx_parameters(
    tiny_models: tuple[Path, dict[str, str]],
) -> None:
    folder = tiny_models[0]
    mdx_data = json.loads((folder / MDX_DATA_FILE).read_text())
    for tiny in TINY_MODELS.values():
        entry = mdx_data[model_hash(folder / tiny.filename)]
        assert entry == {
            "compensate": 1.01,
            "mdx_dim_f_set": 2560,
            "mdx_dim_t_set": 8,
            "mdx_n_fft_scale_set": 5120,
            "primary_stem": tiny.primary_stem,
        }
    checks = json.loads((folder / DOWNLOAD_CHECKS_FILE).read_text())
    assert set(checks) == set(DOWNLOAD_LIST_KEYS)
    assert json.loads((folder / VR_DATA_FILE).read_text()) == {}


def test_model_hash_of_a_large_file_covers_only_its_tail(tmp_path: Path) -> None:
    tail = b"t" * HASH_TAIL_BYTES
    big = tmp_path / "big.onnx"
    big.write_bytes(b"head" * 1000 + tail)
    assert model_hash(big) == hashlib.md5(tail).hexdigest()


DEFAULT_MODELS = (
    SeparationSettings().vocals_model,
    SeparationSettings().dereverb_model,
    SeparationSettings().karaoke_model,
)


def _assert_names_every_file_and_the_folder(message: str, folder: Path) -> None:
    for name in (DOWNLOAD_CHECKS_FILE, MDX_DATA_FILE, VR_DATA_FILE, *DEFAULT_MODELS):
        assert name in message
    assert str(folder) in message and "put them in" in message


def test_separate_command_without_any_model_file_names_every_missing_file_in_one_message(
    song: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    env = {key: value for key, value in os.environ.items() if key != MODEL_ENV_VAR}

    done = subprocess.run(
        [sys.executable, "-m", "svcqa", "separate", str(song), "--out", str(tmp_path / "stems"),
         "--model-dir", str(folder), "--no-download", "--workspace", str(tmp_path / "ws")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "1000"},
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    _assert_names_every_file_and_the_folder(line, folder)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "stems").exists()


def test_failed_download_of_the_model_list_still_names_every_missing_file(
    song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("no network")

    monkeypatch.setattr(requests, "get", no_network)
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(ModelMissingError) as caught:
        separate(song, tmp_path / "stems", folder, SeparationSettings(allow_download=True))
    _assert_names_every_file_and_the_folder(str(caught.value), folder)
    assert "Downloading them failed: no network" in str(caught.value)


def test_missing_files_are_known_per_stage_before_the_model_list_is_there(tmp_path: Path) -> None:
    missing = missing_model_files(tmp_path, SeparationSettings(), ("vocals", "dereverb"))
    assert missing["vocals"] == (DOWNLOAD_CHECKS_FILE, SeparationSettings().vocals_model)
    assert missing["dereverb"] == (
        DOWNLOAD_CHECKS_FILE,
        SeparationSettings().dereverb_model,
        MDX_DATA_FILE,
        VR_DATA_FILE,
    )


# -- the default models' own architectures (random weights, small shapes) ------------------
ARCH_RATE_HZ = 48_000
ARCH_SAMPLES = 2 * ARCH_RATE_HZ + 77


@pytest.fixture(scope="module")
def arch_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A model folder with a BS-Roformer (checkpoint + YAML) and two VR nets under the defaults' names."""
    folder = tmp_path_factory.mktemp("arch_models")
    return folder, build_separation_stand_ins(folder, shapes="small")


@pytest.fixture(scope="module")
def arch_separated(
    arch_models: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[SeparationResult, Path]:
    """The three default stages on a 2 s 48 kHz song: Roformer chunks and overlap-adds about 20
    windows, the VR nets split four bands at their own rates, everything is resampled to 44.1 kHz."""
    t = np.arange(ARCH_SAMPLES) / ARCH_RATE_HZ
    voice = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.3 * np.sin(2 * np.pi * 98 * t)
    song = tmp_path_factory.mktemp("arch_song") / "song.wav"
    sf.write(song, np.stack([voice + bass, 0.7 * voice + bass], axis=1), ARCH_RATE_HZ, subtype="PCM_16")
    result = separate(
        song, tmp_path_factory.mktemp("arch_stems"), arch_models[0], SeparationSettings(allow_download=False)
    )
    return result, song


def test_stand_ins_are_registered_under_the_default_models_as_audio_separator_lists_them(
    arch_models: tuple[Path, dict[str, str]],
) -> None:
    folder, names = arch_models
    defaults = SeparationSettings()
    assert names == {
        "vocals": defaults.vocals_model,
        "dereverb": defaults.dereverb_model,
        "karaoke": defaults.karaoke_model,
    }
    catalogue = supported_models(folder)
    found = {stage: find_model(catalogue, name) for stage, name in names.items()}
    assert {stage: info.arch for stage, info in found.items()} == {
        "vocals": "MDXC",
        "dereverb": "VR",
        "karaoke": "VR",
    }
    assert found["vocals"].files == ROFORMER_FILES
    assert all(info.installed for info in found.values())
    vr_data = json.loads((folder / VR_DATA_FILE).read_text())
    assert vr_data[model_hash(folder / names["dereverb"])]["primary_stem"] == "No Reverb"
    assert vr_data[model_hash(folder / names["karaoke"])]["vr_model_param"] == "4band_v2"


def test_default_architectures_separate_a_48_khz_song_into_44_1_khz_stems_of_one_length(
    arch_separated: tuple[SeparationResult, Path],
) -> None:
    result = arch_separated[0]
    assert [(s.stage, s.kept.name, s.removed.name) for s in result.stages] == [
        ("vocals", "Vocals", "Instrumental"),
        ("dereverb", "No Reverb", "Reverb"),
        ("karaoke", "Vocals", "Instrumental"),
    ]
    expected = round(ARCH_SAMPLES * 44_100 / ARCH_RATE_HZ)
    for stage in result.stages:
        for stem in (stage.kept, stage.removed):
            on_disk = sf.info(stem.path)
            # The VR nets drop the samples short of an STFT hop; they come back as silence.
            assert (on_disk.samplerate, on_disk.channels) == (44_100, 2)
            assert abs(on_disk.frames - expected) <= 1
            assert on_disk.frames == result.stages[0].kept.num_samples


def test_roformer_vocals_and_instrumental_add_up_to_the_song_and_vr_stems_to_their_input(
    arch_separated: tuple[SeparationResult, Path],
) -> None:
    result, song = arch_separated
    vocals_stage, dereverb = result.stages[0], result.stages[1]
    vocals, instrumental = (sf.read(s.path)[0] for s in (vocals_stage.kept, vocals_stage.removed))
    song_44k = decode.read(song, 44_100)[0]
    # The instrumental is the song less the vocals, up to 16-bit rounding (measured: 8e-5).
    assert np.max(np.abs(vocals + instrumental - song_44k)) < 1e-3
    assert np.max(np.abs(vocals)) > 0.01  # the random net sang something
    assert not np.allclose(vocals, song_44k, atol=1e-3)  # and did not pass the song through
    kept, removed = (sf.read(s.path)[0] for s in (dereverb.kept, dereverb.removed))
    # A VR net masks its input's spectrogram: the two stems share it out, aligned with it.
    correlation = np.corrcoef((kept + removed)[:, 0], vocals[:, 0])[0, 1]
    assert correlation > 0.9
