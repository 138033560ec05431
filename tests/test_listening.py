"""Blind listening: scheduling, votes under concurrency, anonymity, reveal, ranking, rating, export.

Each checkpoint's render is a sine at its own frequency, so a simulated listener "hears" which
checkpoint it got from the audio alone, exactly as blind as a person, and answers from a known
quality curve with logistic noise.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import special, stats

from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.listen.export import ExportError, export_checkpoint
from svcqa.listen.pair_files import write_next_pair
from svcqa.listen.pairs import CHOICES, Pair, next_pair, pair_audio, vote
from svcqa.listen.ranking import RevealRefusedError, bradley_terry, results, reveal
from svcqa.listen.stimuli import ListeningError, Stimulus
from svcqa.listen.trials import next_trial, rate, trial_audio

SR = 16_000
BASE_HZ = 300.0
SPACING_HZ = 100.0
STEPS = [5_000 * (k + 1) for k in range(8)]
QUALITY = np.array([-2.0, -0.75, 0.25, 1.0, 0.5, -0.25, -1.0, -1.5])
"""True quality per checkpoint (log-odds scale): rises, peaks at step 20000, falls (overtraining)."""


def _sha(step: int) -> str:
    return hashlib.sha256(f"checkpoint {step}".encode()).hexdigest()


def make_stimuli(
    folder: Path, steps: list[int] = STEPS, excerpts: tuple[str, ...] = ("verse", "chorus")
) -> list[Stimulus]:
    """Write one tagged WAV per checkpoint and excerpt (levels differ by up to 20 dB)."""
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    stimuli = []
    for k, step in enumerate(steps):
        for excerpt in excerpts:
            path = folder / f"renders-step{step}" / f"G_{step}_{excerpt}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with sf.SoundFile(path, "w", SR, 1, "PCM_16") as out:
                out.title = f"G_{step}.pth {_sha(step)}"
                out.write(rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * (BASE_HZ + SPACING_HZ * k) * t))
            stimuli.append(Stimulus(f"render-{step}-{excerpt}", excerpt, step, _sha(step), path))
    return stimuli


def hear(wav: bytes) -> int:
    """Return the checkpoint index whose tone ``wav`` carries."""
    samples, rate_hz = sf.read(io.BytesIO(wav))
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * rate_hz / len(samples)
    return round((peak_hz - BASE_HZ) / SPACING_HZ)


def noisy_choice(pair: Pair, rng: np.random.Generator) -> str:
    """Answer like a listener whose preference follows QUALITY with logistic noise."""
    gap = QUALITY[hear(pair.audio_a)] - QUALITY[hear(pair.audio_b)]
    if rng.random() < 0.2 * math.exp(-abs(gap)):
        return "same"
    return "A" if rng.random() < special.expit(gap) else "B"


def steady_choice(pair: Pair) -> str:
    """Answer like a listener who always hears the better render."""
    return "A" if QUALITY[hear(pair.audio_a)] > QUALITY[hear(pair.audio_b)] else "B"


def pcm16(wav: bytes) -> np.ndarray:
    """Return the 16-bit sample values of a WAV file."""
    return sf.read(io.BytesIO(wav), dtype="int16")[0].astype(np.int64)


def same_sound(a: bytes, b: bytes) -> bool:
    """Return True when two presentations hold the same samples but for their dithers (3 LSB apart at most)."""
    x, y = pcm16(a), pcm16(b)
    return x.shape == y.shape and int(np.max(np.abs(x - y))) <= 3


def wav_chunks(wav: bytes) -> list[str]:
    """Return the chunk ids of a RIFF/WAVE file."""
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    ids, offset = [], 12
    while offset < len(wav):
        size = int.from_bytes(wav[offset + 4 : offset + 8], "little")
        ids.append(wav[offset : offset + 4].decode("ascii"))
        offset += 8 + size + size % 2
    return ids


def identifying_strings(stimuli: list[Stimulus]) -> set[str]:
    """Return every string that would tell a listener which checkpoint is playing."""
    found = set()
    for s in stimuli:
        found |= {
            s.render_id,
            s.checkpoint_sha256,
            s.checkpoint_sha256[:12],
            s.path.name,
            s.path.stem,
            s.path.parent.name,
            str(s.path),
            f"G_{s.checkpoint_step}",
            str(s.checkpoint_step),
        }
    return found


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / ".svcqa" / "state.sqlite")


@pytest.fixture
def stimuli(tmp_path: Path) -> list[Stimulus]:
    return make_stimuli(tmp_path / "renders")


# -- ranking ----------------------------------------------------------------------------
def test_ranking_recovers_the_true_quality_curve_from_noisy_listeners(store, stimuli):
    rng = np.random.default_rng(7)
    for n in range(240):
        listener = f"listener {n % 4}"
        pair = next_pair(store, stimuli, listener, rng=rng)
        vote(store, pair.id, listener, noisy_choice(pair, rng))

    ranking = reveal(store, stimuli).ranking

    score_by_step = {r.checkpoint_step: r.score for r in ranking}
    scores = np.array([score_by_step[step] for step in STEPS])
    tau = stats.kendalltau(QUALITY, scores).statistic
    assert tau >= 0.8
    assert ranking[0].checkpoint_step == STEPS[int(np.argmax(QUALITY))]
    assert abs(scores.mean()) < 1e-9
    assert all(r.ci_low < r.score < r.ci_high for r in ranking)


def test_bradley_terry_is_defined_without_votes_and_after_a_clean_sweep():
    scores, covariance = bradley_terry(np.zeros((3, 3)))
    assert np.allclose(scores, 0.0) and np.all(np.isfinite(covariance))

    sweep = np.array([[0.0, 5.0], [0.0, 0.0]])
    scores, covariance = bradley_terry(sweep)
    assert scores[0] > 1.0 > -1.0 > scores[1]
    assert np.all(np.isfinite(covariance)) and covariance[0, 0] > 0


def test_ties_count_half_a_win_to_each_side():
    scores, _ = bradley_terry(np.array([[0.0, 2.5], [2.5, 0.0]]))
    assert np.allclose(scores, 0.0)


# -- pairs are blind --------------------------------------------------------------------
def test_pair_payload_carries_no_identifying_string(store, stimuli):
    secrets_ = identifying_strings(stimuli)
    rng = np.random.default_rng(1)
    for _ in range(10):
        pair = next_pair(store, stimuli, "alice", rng=rng)
        texts = [pair.id, repr(pair), json.dumps(pair.to_dict())]
        payloads = [pair.audio_a, pair.audio_b, *pair_audio(store, stimuli, pair.id)]
        for secret in secrets_:
            assert not any(secret in text for text in texts), secret
            assert not any(secret.encode() in payload for payload in payloads), secret
        assert all(wav_chunks(payload) == ["fmt ", "data"] for payload in payloads)
        vote(store, pair.id, "alice", "same")

    before_reveal = json.dumps(results(store, stimuli).to_dict())
    assert not any(secret in before_reveal for secret in secrets_)


def test_pair_sides_play_at_the_same_loudness(store, stimuli):
    pair = next_pair(store, stimuli, "alice", rng=np.random.default_rng(2))
    levels = []
    for wav in (pair.audio_a, pair.audio_b):
        samples, rate_hz = sf.read(io.BytesIO(wav))
        levels.append(pyloudnorm.Meter(rate_hz).integrated_loudness(samples))
    assert levels[0] == pytest.approx(ListenSettings().loudness_lufs, abs=0.5)
    assert levels[1] == pytest.approx(levels[0], abs=0.5)


def test_pairs_compare_two_checkpoints_of_the_same_excerpt_with_random_sides(store, tmp_path):
    stimuli = make_stimuli(tmp_path / "r", steps=STEPS[:3], excerpts=("verse",))
    rng = np.random.default_rng(3)
    sides = set()
    for _ in range(30):
        pair = next_pair(store, stimuli, "alice", rng=rng)
        a, b = hear(pair.audio_a), hear(pair.audio_b)
        assert a != b
        sides.add((a, b))
        vote(store, pair.id, "alice", "A")
    assert len(sides) == 6  # every ordered pair of 3 checkpoints, so sides are not fixed


# -- every presentation is unique --------------------------------------------------------
def test_no_two_presented_files_share_their_bytes_over_a_whole_session(store, stimuli, tmp_path):
    settings = ListenSettings(repeat_share=0.5, repeat_min_gap=2)
    rng = np.random.default_rng(11)
    presented: list[bytes] = []
    for n in range(40):
        pair = next_pair(store, stimuli, "alice", settings=settings, rng=rng)
        presented += [pair.audio_a, pair.audio_b, *pair_audio(store, stimuli, pair.id, settings=settings)]
        if n % 8 == 0:  # the command line hands the pending pair out again as a.wav and b.wav
            files = write_next_pair(store, stimuli, "alice", tmp_path / f"cli{n}", settings)
            presented += [files.a.read_bytes(), files.b.read_bytes()]
        vote(store, pair.id, "alice", steady_choice(pair))
    for _ in range(6):
        trial = next_trial(store, stimuli, "alice", rng=rng)
        presented += [*trial.audio.values(), *trial_audio(store, stimuli, trial.id).values()]
        rate(store, trial.id, "alice", dict.fromkeys(trial.letters, 50))

    (alice,) = results(store, stimuli, settings=settings).listeners
    assert alice.repeats >= 5 and alice.trials == 6  # swapped repeats and hidden duplicates were presented
    assert len(presented) == 40 * 4 + 5 * 2 + 6 * 9 * 2
    assert len(set(presented)) == len(presented)
    assert len({wav[44:] for wav in presented}) == len(presented)  # not even the sample data repeats


def test_a_presentation_sounds_like_its_render_within_minus_80_db(store, stimuli):
    raw = next_pair(store, stimuli, "alice", settings=ListenSettings(match_loudness=False))
    row = Store(store.path).listen.pair(raw.id)
    by_id = {s.render_id: s for s in stimuli}
    for wav, render in ((raw.audio_a, row.render_a), (raw.audio_b, row.render_b)):
        original, rate_hz = sf.read(by_id[render].path, dtype="float64")
        shown, shown_rate_hz = sf.read(io.BytesIO(wav), dtype="float64")
        assert shown_rate_hz == rate_hz and shown.shape == original.shape  # no timing or length change
        residual = shown - original
        assert 20 * np.log10(np.max(np.abs(residual))) <= -80.0
        assert 20 * np.log10(np.sqrt(np.mean(residual**2))) <= -90.0
        assert np.any(residual != 0)  # dithered, not copied

    matched = next_pair(store, stimuli, "bob", rng=np.random.default_rng(12))
    again_a, again_b = pair_audio(store, stimuli, matched.id)
    for first, second in ((matched.audio_a, again_a), (matched.audio_b, again_b)):
        x, y = (sf.read(io.BytesIO(w))[0] for w in (first, second))
        assert first != second and 20 * np.log10(np.max(np.abs(x - y))) <= -80.0
        meter = pyloudnorm.Meter(SR)
        assert meter.integrated_loudness(x) == pytest.approx(meter.integrated_loudness(y), abs=0.01)


# -- votes ------------------------------------------------------------------------------
def test_vote_rejects_unknown_pair_other_listener_bad_choice_and_bad_tag(store, stimuli):
    pair = next_pair(store, stimuli, "alice", rng=np.random.default_rng(4))
    with pytest.raises(ListeningError, match="Unknown pair"):
        vote(store, "no-such-pair", "alice", "A")
    with pytest.raises(ListeningError, match="another listener"):
        vote(store, pair.id, "bob", "A")
    with pytest.raises(ListeningError, match="not one of"):
        vote(store, pair.id, "alice", "C")
    with pytest.raises(ListeningError, match="Unknown tag"):
        vote(store, pair.id, "alice", "A", tags=["too loud"])
    with pytest.raises(ListeningError, match="listener name"):
        next_pair(store, stimuli, "   ")

    first = vote(store, pair.id, "alice", "B", tags=["noise", "pitch_errors"])
    assert vote(store, pair.id, "alice", "B", tags=["noise", "pitch_errors"]) == first
    with pytest.raises(ListeningError, match="already has your vote"):
        vote(store, pair.id, "alice", "A")
    assert results(store, stimuli).votes == 1


def _vote_many(db_path: str, stimuli: list[dict], listener: str, count: int) -> list[str]:
    """Cast ``count`` votes as ``listener`` in its own process; return the voted pair ids."""
    store = Store(Path(db_path))
    listed = [Stimulus.from_dict(s) for s in stimuli]
    rng = np.random.default_rng(int(hashlib.sha256(listener.encode()).hexdigest()[:8], 16))
    voted = []
    for n in range(count):
        pair = next_pair(store, listed, listener, rng=rng)
        vote(store, pair.id, listener, CHOICES[n % 3])
        voted.append(pair.id)
    return voted


def test_eight_concurrent_voters_lose_no_vote(store, stimuli):
    listed = [s.to_dict() for s in stimuli]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=8, mp_context=spawn) as pool:
        jobs = [pool.submit(_vote_many, str(store.path), listed, f"voter {k}", 50) for k in range(8)]
        voted = [pair_id for job in jobs for pair_id in job.result(timeout=300)]

    assert len(set(voted)) == 400
    with store.connect() as conn:
        stored = {row[0] for row in conn.execute("SELECT pair_id FROM listen_votes")}
    assert stored == set(voted)
    summary = results(store, stimuli)
    assert summary.votes == 400
    assert sorted(s.votes for s in summary.listeners) == [50] * 8


# -- reveal -----------------------------------------------------------------------------
def test_reveal_is_refused_with_the_reason_until_every_checkpoint_had_three_comparisons(store, tmp_path):
    stimuli = make_stimuli(tmp_path / "r", steps=STEPS[:4], excerpts=("verse",))
    rng = np.random.default_rng(5)
    pair = next_pair(store, stimuli, "alice", rng=rng)
    vote(store, pair.id, "alice", steady_choice(pair))

    with pytest.raises(RevealRefusedError, match="every checkpoint in at least 3 comparisons"):
        reveal(store, stimuli)
    hidden = results(store, stimuli)
    assert not hidden.revealed and hidden.ranking == () and hidden.refusal is not None

    votes = 1
    while results(store, stimuli).refusal is not None:
        pair = next_pair(store, stimuli, "alice", rng=rng)
        vote(store, pair.id, "alice", steady_choice(pair))
        votes += 1
    assert votes <= 10  # the scheduler feeds the checkpoints still short of comparisons first

    shown = reveal(store, stimuli)
    assert shown.revealed and results(store, stimuli).revealed
    assert sorted(r.checkpoint_step for r in shown.ranking) == STEPS[:4]
    assert all(r.comparisons >= 3 for r in shown.ranking)
    assert shown.to_dict()["ranking"][0].keys() >= {"checkpoint_step", "score", "ci_low", "ci_high"}


# -- consistency ------------------------------------------------------------------------
def test_consistency_is_measured_from_repeats_with_sides_swapped(store, stimuli):
    settings = ListenSettings(repeat_share=0.5, repeat_min_gap=2)
    rng = np.random.default_rng(6)
    for _ in range(30):
        pair = next_pair(store, stimuli, "steady", settings=settings, rng=rng)
        vote(store, pair.id, "steady", steady_choice(pair))
        pair = next_pair(store, stimuli, "lazy", settings=settings, rng=rng)
        vote(store, pair.id, "lazy", "A")

    by_name = {s.listener: s for s in results(store, stimuli, settings=settings).listeners}
    assert by_name["steady"].repeats >= 5 and by_name["steady"].consistency == 1.0
    assert by_name["lazy"].repeats >= 5 and by_name["lazy"].consistency == 0.0
    with store.connect() as conn:
        swapped = conn.execute(
            "SELECT r.render_a = o.render_b AND r.render_b = o.render_a, r.listener = o.listener "
            "FROM listen_pairs r JOIN listen_pairs o ON o.id = r.repeat_of"
        ).fetchall()
    assert swapped and all(tuple(row) == (1, 1) for row in swapped)


# -- MUSHRA-like rating -----------------------------------------------------------------
def test_rating_trial_hides_a_duplicate_and_measures_its_consistency(store, stimuli):
    rng = np.random.default_rng(8)
    secrets_ = identifying_strings(stimuli)
    for n in range(6):
        trial = next_trial(store, stimuli, "honest", ("verse", "chorus")[n % 2], rng=rng)
        assert trial.letters == tuple("ABCDEFGHI")
        assert not any(s in json.dumps(trial.to_dict()) + repr(trial) for s in secrets_)
        reloaded = trial_audio(store, stimuli, trial.id)
        assert reloaded.keys() == trial.audio.keys()
        assert all(
            same_sound(reloaded[k], trial.audio[k]) and reloaded[k] != trial.audio[k] for k in reloaded
        )
        heard = {letter: hear(wav) for letter, wav in trial.audio.items()}
        assert sorted(set(heard.values())) == list(range(8))
        twice = [letter for letter in trial.letters if list(heard.values()).count(heard[letter]) == 2]
        assert len(twice) == 2 and same_sound(trial.audio[twice[0]], trial.audio[twice[1]])
        assert trial.audio[twice[0]] != trial.audio[twice[1]]  # the hidden copy cannot be found by its bytes
        scores = {k: 50 + 20 * QUALITY[v] + rng.uniform(-2, 2) for k, v in heard.items()}
        rate(store, trial.id, "honest", scores)

    ratings = reveal(store, stimuli).ratings  # 6 rated trials: every checkpoint compared 6 times
    mean_by_step = {r.checkpoint_step: r.mean_score for r in ratings}
    assert stats.kendalltau(QUALITY, [mean_by_step[s] for s in STEPS]).statistic >= 0.8
    assert all(r.trials == 6 and r.ci_low < r.mean_score < r.ci_high for r in ratings)

    for _ in range(6):
        trial = next_trial(store, stimuli, "random", rng=rng)
        rate(store, trial.id, "random", {letter: rng.uniform(0, 100) for letter in trial.letters})
    by_name = {s.listener: s for s in results(store, stimuli).listeners}
    assert by_name["honest"].trials == 6 and by_name["honest"].duplicate_consistency == 1.0
    assert by_name["honest"].duplicate_mean_abs_diff < 4.0
    assert by_name["random"].trials == 6 and by_name["random"].duplicate_mean_abs_diff > 10.0
    assert by_name["random"].duplicate_consistency < by_name["honest"].duplicate_consistency


def test_rate_rejects_missing_letters_out_of_range_scores_and_other_listeners(store, stimuli):
    trial = next_trial(store, stimuli, "alice", rng=np.random.default_rng(9))
    full = dict.fromkeys(trial.letters, 50.0)
    with pytest.raises(ListeningError, match="every letter"):
        rate(store, trial.id, "alice", {trial.letters[0]: 50.0})
    with pytest.raises(ListeningError, match="from 0 to 100"):
        rate(store, trial.id, "alice", {**full, "A": 101})
    with pytest.raises(ListeningError, match="another listener"):
        rate(store, trial.id, "bob", full)
    with pytest.raises(ListeningError, match="Unknown trial"):
        rate(store, "nope", "alice", full)
    assert rate(store, trial.id, "alice", full) == full
    with pytest.raises(ListeningError, match="already has your scores"):
        rate(store, trial.id, "alice", {**full, "A": 10.0})


# -- export -----------------------------------------------------------------------------
def _training_checkpoint(path: Path):
    """Save a checkpoint shaped like so-vits-svc-fork's, with a real AdamW state; return the net."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 256))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    net(torch.randn(4, 256)).square().mean().backward()
    optimizer.step()
    torch.save(
        {
            "model": net.state_dict(),
            "iteration": 12,
            "optimizer": optimizer.state_dict(),
            "learning_rate": 1e-4,
        },
        path,
    )
    return net


def test_export_keeps_only_the_generator_and_is_much_smaller(tmp_path):
    torch = pytest.importorskip("torch")
    checkpoint = tmp_path / "logs" / "G_8000.pth"
    checkpoint.parent.mkdir()
    net = _training_checkpoint(checkpoint)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"train": {"batch_size": 16}, "spk": {"alice": 0}}))

    exported = export_checkpoint(checkpoint, config, tmp_path / "exports" / "alice.zip")

    with zipfile.ZipFile(exported.path) as archive:
        assert sorted(archive.namelist()) == ["G_8000.pth", "config.json"]
        assert archive.read("config.json") == config.read_bytes()
        slim = torch.load(io.BytesIO(archive.read("G_8000.pth")), map_location="cpu", weights_only=True)
    assert set(slim) == {"model", "iteration", "learning_rate", "optimizer"}
    assert slim["optimizer"] is None and slim["iteration"] == 12
    assert all(torch.equal(slim["model"][k], v) for k, v in net.state_dict().items())
    assert exported.model_name == "G_8000.pth"
    assert exported.size_bytes < 0.4 * exported.checkpoint_bytes


def test_export_refuses_a_checkpoint_without_generator_weights(tmp_path):
    torch = pytest.importorskip("torch")
    checkpoint = tmp_path / "G_100.pth"
    torch.save({"optimizer": {}}, checkpoint)
    config = tmp_path / "config.json"
    config.write_text("{}")
    with pytest.raises(ExportError, match="no generator weights"):
        export_checkpoint(checkpoint, config, tmp_path / "out.zip")
    with pytest.raises(ExportError, match="Cannot tell the step"):
        export_checkpoint(config, config, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


@pytest.mark.slow
def test_exported_generator_loads_with_so_vits_svc_fork(tmp_path):
    torch = pytest.importorskip("torch")
    fork_utils = pytest.importorskip("so_vits_svc_fork.utils")
    checkpoint = tmp_path / "G_8000.pth"
    net = _training_checkpoint(checkpoint)
    config = tmp_path / "config.json"
    config.write_text("{}")
    exported = export_checkpoint(checkpoint, config, tmp_path / "model.zip")
    with zipfile.ZipFile(exported.path) as archive:
        archive.extractall(tmp_path / "model")

    fresh = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 256))
    fork_utils.load_checkpoint(tmp_path / "model" / "G_8000.pth", fresh, None)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in net.state_dict().items())
