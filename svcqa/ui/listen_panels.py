"""The Listen page's panels: listener name, blind voting and rating, reveal, the recommendation,
results, export, invitations.

Before reveal nothing drawn here names a checkpoint: sides are letters, audio is the
anonymised WAV bytes :mod:`svcqa.listen.pairs` and :mod:`svcqa.listen.trials` return, and progress is
counts only. Identities (steps) appear only in the panels drawn after :func:`svcqa.listen.ranking.reveal`,
and in the shortlist basis, which only the owner sees, only when asking for it, and never in
owner blind mode (:func:`shortlist_basis_panel`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.settings import DEFAULT_APP_URL, Settings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.listen import checkpoint_metrics, export, invites, pairs, trials
from svcqa.listen.ranking import Progress, Results, RevealRefusedError, quality_curve, reveal
from svcqa.listen.recommend import BASES, Advice, Recommendation, advise
from svcqa.listen.render_metrics import DNSMOS_LABEL, METRIC_NAMES, RenderMetrics
from svcqa.listen.stimuli import (
    ListeningError,
    Stimulus,
    clear_shortlist,
    listener_name,
    set_shortlist,
    shortlist,
    stimuli_from_renders,
)
from svcqa.ui import listen_charts, state
from svcqa.ui.ab_player import blind_player
from svcqa.ui.metrics_panel import curve_reader

MODES: dict[str, str] = {"paired": "Paired comparison", "ratings": "Ratings (MUSHRA-like)"}
CHOICE_LABELS: dict[str, str] = {"A": "A is better", "B": "B is better", "same": "No difference"}


def show_notice() -> None:
    """Show the message the last action left, once."""
    notice = st.session_state.pop(state.LISTEN_NOTICE, None)
    if notice:
        {"error": st.error, "warning": st.warning}.get(notice[0], st.success)(notice[1])


def _notice(kind: str, message: str) -> None:
    st.session_state[state.LISTEN_NOTICE] = (kind, message)


def listener_gate() -> str:
    """Return this session's listener name; on the first visit ask for it and stop the script."""
    name = st.session_state.get(state.LISTEN_NAME)
    if name:
        return str(name)
    with st.form(state.LISTEN_NAME_FORM):
        st.text_input(
            "Your name",
            max_chars=64,
            key=state.LISTEN_NAME_INPUT,
            help="It keeps your votes apart from other listeners' and measures your consistency.",
        )
        submitted = st.form_submit_button("Start listening", key=state.LISTEN_NAME_SUBMIT, type="primary")
    if submitted:
        try:
            st.session_state[state.LISTEN_NAME] = listener_name(
                st.session_state.get(state.LISTEN_NAME_INPUT) or ""
            )
        except ListeningError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    st.stop()
    raise AssertionError("st.stop() returns only outside a script run")


def change_listener_button(name: str) -> None:
    """Show who is listening and a button to switch to another name."""
    left, right = st.columns([4, 1])
    left.caption(f"Listening as **{name}**.")
    if right.button("Change name", key=state.LISTEN_NAME_CHANGE):
        for key in (state.LISTEN_NAME, state.LISTEN_PAIR, state.LISTEN_TRIAL):
            st.session_state.pop(key, None)
        st.rerun()


def progress_panel(progress: Progress) -> None:
    """Draw the test's progress as counts only."""
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Your votes", progress.listener_votes)
    c2.metric("All votes", progress.votes, help=f"plus {progress.rated_trials} rated trials")
    c3.metric(
        f"Checkpoints under {progress.min_comparisons} comparisons",
        f"{progress.checkpoints_short} of {progress.checkpoints}",
    )
    c4.metric("Votes still needed", progress.votes_needed, help="At least this many more before reveal.")


def paired_panel(store: Store, stimuli: list[Stimulus], name: str, settings: Settings) -> None:
    """Draw the current blind pair (resumed after a reload) and the vote form; a vote moves on."""
    current = st.session_state.get(state.LISTEN_PAIR)
    if current is None:
        try:
            current = _current_pair(store, stimuli, name, settings)
        except ListeningError as exc:
            st.warning(str(exc))
            return
        st.session_state[state.LISTEN_PAIR] = current
    pair_id, audio = current
    st.caption(
        "Two renders of the same passage, in random order. Switch between A and B while they play: "
        "both run in sync, so you hear the same moment. Loop a hard passage to compare it closely."
    )
    blind_player(audio)
    with st.form(state.LISTEN_VOTE_FORM, clear_on_submit=True, border=False):
        tags = st.multiselect(
            "What decided it (optional)",
            list(pairs.TAGS),
            format_func=pairs.TAGS.__getitem__,
            key=state.LISTEN_TAGS,
            placeholder="reasons",
        )
        columns = st.columns(len(CHOICE_LABELS))
        clicked = {
            choice: column.form_submit_button(label, key=state.LISTEN_VOTE_KEYS[choice], width="stretch")
            for column, (choice, label) in zip(columns, CHOICE_LABELS.items(), strict=True)
        }
    choice = next((c for c, hit in clicked.items() if hit), None)
    if choice is None:
        return
    try:
        pairs.vote(store, pair_id, name, choice, tags)
    except ListeningError as exc:
        _notice("error", str(exc))
    else:
        _notice("success", f"Vote saved ({CHOICE_LABELS[choice]}). Here is the next pair.")
    st.session_state.pop(state.LISTEN_PAIR, None)
    st.rerun()


def _current_pair(
    store: Store, stimuli: list[Stimulus], name: str, settings: Settings
) -> tuple[str, dict[str, bytes]]:
    """Return this listener's unvoted pair if there is one (a reload), else a new pair."""
    pair_id = pairs.pending_pair(store, name)
    if pair_id is not None:
        try:
            audio_a, audio_b = pairs.pair_audio(store, stimuli, pair_id, settings=settings.listen)
            return pair_id, {"A": audio_a, "B": audio_b}
        except ListeningError:
            pass  # its renders are gone: draw a new pair
    pair = pairs.next_pair(store, stimuli, name, settings=settings.listen)
    return pair.id, {"A": pair.audio_a, "B": pair.audio_b}


def ratings_panel(store: Store, stimuli: list[Stimulus], name: str, settings: Settings) -> None:
    """Draw the current rating trial (resumed after a reload) with a 0-100 slider per letter."""
    current = st.session_state.get(state.LISTEN_TRIAL)
    if current is None:
        try:
            current = _current_trial(store, stimuli, name, settings)
        except ListeningError as exc:
            st.warning(str(exc))
            return
        st.session_state[state.LISTEN_TRIAL] = current
    trial_id, audio = current
    st.caption(
        "Every checkpoint's render of one passage under a letter, in random order; one of them is "
        "hidden twice to check consistency. Rate each from 0 (bad) to 100 (excellent)."
    )
    blind_player(audio)
    with st.form(state.LISTEN_RATE_FORM, clear_on_submit=True, border=False):
        columns = st.columns(min(len(audio), 4))
        scores = {
            letter: columns[k % len(columns)].slider(letter, 0, 100, 50, key=state.LISTEN_SCORE_KEYS[letter])
            for k, letter in enumerate(audio)
        }
        submitted = st.form_submit_button("Save ratings", key=state.LISTEN_RATE_SUBMIT, type="primary")
    if not submitted:
        return
    try:
        trials.rate(store, trial_id, name, scores)
    except ListeningError as exc:
        _notice("error", str(exc))
    else:
        _notice("success", "Ratings saved. Here is the next passage.")
    st.session_state.pop(state.LISTEN_TRIAL, None)
    st.rerun()


def _current_trial(
    store: Store, stimuli: list[Stimulus], name: str, settings: Settings
) -> tuple[str, dict[str, bytes]]:
    """Return this listener's unrated trial if there is one (a reload), else a new trial."""
    trial_id = trials.pending_trial(store, name)
    if trial_id is not None:
        try:
            return trial_id, trials.trial_audio(store, stimuli, trial_id, settings=settings.listen)
        except ListeningError:
            pass  # its renders are gone: start a new trial
    trial = trials.next_trial(store, stimuli, name, settings=settings.listen)
    return trial.id, dict(trial.audio)


# -- owner only ---------------------------------------------------------------------------
def reveal_panel(store: Store, stimuli: list[Stimulus], settings: Settings, results: Results) -> None:
    """Draw why reveal is not allowed yet, and the reveal button (refused with the reason)."""
    st.caption(
        results.refusal
        or "Every checkpoint had enough comparisons: reveal once the listeners are done. "
        "Votes after reveal still count."
    )
    if st.button("Reveal the checkpoints", key=state.LISTEN_REVEAL, type="primary"):
        try:
            reveal(store, stimuli, settings=settings.listen)
        except RevealRefusedError as exc:
            st.warning(f"Not yet. {exc}")
        else:
            st.rerun()


@st.cache_data(ttl=600, show_spinner="Reading the dataset's voice and range...")
def _reference(root: str, settings: Settings) -> checkpoint_metrics.MetricsReference:
    return checkpoint_metrics.dataset_reference(Workspace(Path(root)), settings)


def advice(ws: Workspace, results: Results, stimuli: list[Stimulus], settings: Settings) -> Advice:
    """Return the recommendation of the test, from the stimuli's cached metrics and the run's loss."""
    series = curve_reader(str(ws.logs_44k)).reload()
    return advise(ws, results, stimuli, settings, _reference(str(ws.root), settings), series)


def _measure(ws: Workspace, stimuli: list[Stimulus], settings: Settings) -> dict[str, RenderMetrics]:
    bar = st.progress(0.0, text="Measuring the renders...")
    measured = checkpoint_metrics.measure_renders(
        ws,
        stimuli,
        _reference(str(ws.root), settings),
        settings,
        lambda f, m: bar.progress(min(f, 1.0), text=m),
    )
    bar.empty()
    return measured


def shortlist_panel(ws: Workspace, settings: Settings) -> None:
    """Offer to let only the N most promising checkpoints (by objective metrics) into the test."""
    every = stimuli_from_renders(ws, use_shortlist=False)
    total = len({s.checkpoint_sha256 for s in every})
    chosen = shortlist(ws)
    with st.expander("Too many checkpoints? Shortlist the most promising"):
        st.caption(
            "Measures every render (voice similarity, pitch error, high-note HNR, DNSMOS) and keeps the N "
            "checkpoints with the best mean rank. The numbers stay hidden until reveal, because they would "
            "tell which render is which; only the set of checkpoints in the test changes."
        )
        if chosen:
            st.info(f"The test compares {len(chosen)} shortlisted checkpoints of {total} rendered.")
            if st.button("Compare every checkpoint again", key=state.LISTEN_SHORTLIST_CLEAR):
                clear_shortlist(ws)
                st.session_state.pop(state.LISTEN_PAIR, None)
                st.session_state.pop(state.LISTEN_TRIAL, None)
                st.rerun()
        if total < 3:
            st.caption("Shortlisting needs at least three rendered checkpoints.")
            return
        count = st.number_input(
            "Checkpoints to keep",
            min_value=2,
            max_value=total,
            value=max(2, min(settings.listen.shortlist_size, total)),
            step=1,
            key=state.LISTEN_SHORTLIST_SIZE,
        )
        if st.button("Shortlist", key=state.LISTEN_SHORTLIST):
            rows = checkpoint_metrics.per_checkpoint(every, _measure(ws, every, settings))
            kept = set_shortlist(ws, checkpoint_metrics.most_promising(rows, int(count)))
            st.session_state.pop(state.LISTEN_PAIR, None)
            st.session_state.pop(state.LISTEN_TRIAL, None)
            _notice("success", f"The test now compares the {kept} most promising of {total} checkpoints.")
            st.rerun()


def results_panel(results: Results) -> None:
    """Draw the revealed ranking over training steps, the ratings and the listeners' consistency."""
    if results.votes and results.ranking:
        curve = quality_curve(results.ranking)
        st.plotly_chart(
            listen_charts.preference_chart(results.ranking, curve), width="stretch", key="listen_preference"
        )
        tied = ", ".join(f"{s:,}" for s in curve.tied_steps if s != curve.peak_step)
        lines = [f"Quality peaks at step **{curve.peak_step:,}**."]
        if tied:
            lines.append(f"The listeners could not tell steps {tied} from it (their intervals overlap).")
        if curve.overtraining_step is not None:
            lines.append(
                f"From step **{curve.overtraining_step:,}** on, checkpoints are clearly worse than the peak: "
                "overtraining."
            )
        else:
            lines.append("No later checkpoint is clearly worse than the peak.")
        st.markdown(" ".join(lines))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "step": r.checkpoint_step,
                        "score": r.score,
                        "95% low": r.ci_low,
                        "95% high": r.ci_high,
                        "comparisons": r.comparisons,
                    }
                    for r in results.ranking
                ]
            ),
            hide_index=True,
            key="listen_ranking_table",
            column_config={
                c: st.column_config.NumberColumn(format="%.2f") for c in ("score", "95% low", "95% high")
            },
        )
    if results.ratings:
        st.markdown("**Ratings (MUSHRA-like)**")
        st.plotly_chart(listen_charts.ratings_chart(results.ratings), width="stretch", key="listen_ratings")
    st.markdown("**Listeners**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "listener": s.listener,
                    "votes": s.votes,
                    "repeats (sides swapped)": s.repeats,
                    "answered the same": s.consistency,
                    "rated trials": s.trials,
                    "hidden copy within tolerance": s.duplicate_consistency,
                }
                for s in results.listeners
            ]
        ),
        hide_index=True,
        key="listen_listeners_table",
        column_config={
            "answered the same": st.column_config.NumberColumn(format="percent"),
            "hidden copy within tolerance": st.column_config.NumberColumn(format="percent"),
        },
    )
    st.caption(
        "A listener who answers a repeated pair differently half of the time is guessing; weigh their "
        "votes accordingly, or ask them to listen again."
    )


def metrics_panel(ws: Workspace, stimuli: list[Stimulus], settings: Settings, results: Results) -> None:
    """Draw the objective metrics per checkpoint and how well each agrees with the blind ranking."""
    reference = _reference(str(ws.root), settings)
    measured = checkpoint_metrics.cached_metrics(ws, stimuli, reference, settings)
    missing = len(stimuli) - len(measured)
    if missing and st.button(f"Measure the renders ({missing} not measured yet)", key=state.LISTEN_METRICS):
        measured = _measure(ws, stimuli, settings)
        missing = 0
    if not measured:
        st.caption("Objective metrics appear here once the renders are measured.")
        return
    rows = checkpoint_metrics.per_checkpoint(stimuli, measured)
    frame = pd.DataFrame([r.to_dict() for r in rows]).drop(columns=["checkpoint_sha256"])
    st.dataframe(
        frame.rename(columns={"checkpoint_step": "step", **checkpoint_metrics.METRIC_LABELS}),
        hide_index=True,
        key="listen_metrics_table",
    )
    if missing:
        st.caption(f"{missing} renders are not measured yet; the table covers the others.")
    st.caption(DNSMOS_LABEL + ".")
    missing_because: dict[str, set[str]] = {}
    for metrics in measured.values():
        for name, reason in metrics.reasons.items():
            if name in METRIC_NAMES and reason:
                missing_because.setdefault(reason, set()).add(checkpoint_metrics.METRIC_LABELS[name])
    for reason, labels in missing_because.items():
        st.caption(f"Missing for some renders ({', '.join(sorted(labels))}): {reason}.")
    if results.votes and results.ranking:
        st.markdown("**Do the metrics agree with your ears?**")
        for found in checkpoint_metrics.agreement(rows, results.ranking, settings.listen.confidence):
            st.markdown(f"- {found.statement}")


def recommendation_card(ws: Workspace, advice: Advice, results: Results) -> None:
    """Draw the answer after reveal: one card, "Use step N", its reasons, and the export beside it.

    Without enough blind judgements the card gives the shortlist basis instead, labelled as such.
    """
    found = advice.recommendation
    with st.container(border=True, key="listen_recommendation"):
        left, right = st.columns([3, 2])
        with left:
            _recommendation_text(found)
        with right:
            export_panel(ws, results, found)


def shortlist_basis_panel(get_advice: Callable[[], Advice], blind: bool) -> None:
    """Before reveal: offer the shortlist basis (objective metrics and loss) on request, labelled as
    not the answer; never in owner blind mode."""
    if blind:
        st.caption("Blind mode: the shortlist basis names a step, so it stays hidden until reveal.")
        return
    if st.toggle(
        "Show the shortlist basis (objective metrics and loss)",
        key=state.LISTEN_SHORTLIST_BASIS,
        help="It names a step: leave it off while you vote yourself. It is a screen, not the answer.",
    ):
        with st.container(border=True):
            _recommendation_text(get_advice().recommendation)


def _recommendation_text(found: Recommendation) -> None:
    """Draw a recommendation's heading, what it rests on and its reasons."""
    if found.checkpoint_step is None:
        st.markdown("#### No recommendation yet")
    elif found.is_answer:
        st.markdown(f"#### Use step {found.checkpoint_step:,}")
        sure = f"; confidence {found.confidence:.0%}" if found.confidence is not None else ""
        st.caption(f"From {BASES[found.basis]}{sure}.")
    else:
        st.markdown(f"#### Shortlist basis: step {found.checkpoint_step:,}")
        st.caption(f"Not the answer: {BASES[found.basis]}.")
    st.markdown("\n".join(f"- {reason}" for reason in found.reasons))


def export_panel(ws: Workspace, results: Results, recommended: Recommendation) -> None:
    """Offer the revealed checkpoints (the recommended one selected) for export as a small inference model."""
    if not results.ranking:
        return
    by_step = sorted(results.ranking, key=lambda r: r.checkpoint_step)
    steps = {r.checkpoint_sha256: r.checkpoint_step for r in by_step}
    options = list(steps)
    best = recommended.checkpoint_sha256 if recommended.checkpoint_sha256 in steps else options[-1]
    mark = " (recommended)" if recommended.is_answer else " (shortlist basis)"
    st.caption("Export: the generator weights and config.json only, what so-vits-svc-fork needs to sing.")
    picked = st.selectbox(
        "Checkpoint",
        options,
        index=options.index(best),
        format_func=lambda sha: (
            f"step {steps[sha]:,}" + (mark if sha == recommended.checkpoint_sha256 else "")
        ),
        key=state.LISTEN_EXPORT_STEP,
    )
    if st.button("Export", key=state.LISTEN_EXPORT, type="primary"):
        out = export.default_export_path(ws, steps[picked])
        try:
            exported = export.export_step(ws, steps[picked], out, sha256=picked)
        except SvcqaError as exc:
            st.error(str(exc))
        else:
            st.session_state[state.LISTEN_EXPORTED] = ws.relative(exported.path)
            st.success(
                f"Wrote {ws.relative(exported.path)}: {exported.size_bytes / 1e6:.1f} MB, the generator "
                f"weights and config.json only ({exported.checkpoint_bytes / 1e6:.1f} MB as trained)."
            )
    exported_rel = st.session_state.get(state.LISTEN_EXPORTED)
    if exported_rel:
        path = ws.resolve(exported_rel)
        if path.is_file():
            st.download_button(
                f"Download {path.name}",
                data=path.read_bytes(),
                file_name=path.name,
                mime="application/zip",
                key=state.LISTEN_DOWNLOAD,
            )


def invites_panel(ws: Workspace) -> None:
    """Create, show once and revoke vote-only links."""
    with st.expander("Invite listeners (vote-only link)"):
        if ws.root != Workspace(state.startup_root()).root:
            st.caption(
                f"Vote-only links open the workspace the server started with ({state.startup_root()}); "
                "switch to it to invite listeners."
            )
            return
        st.caption(
            "Whoever opens the link can vote on this page and reach no other page. When the server runs "
            "with --public, the link works without the password: the link is the key, so send it only to "
            "your listeners, and revoke it when the test is over."
        )
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        label = left.text_input(
            "For whom (optional)", max_chars=invites.MAX_LABEL_CHARS, key=state.LISTEN_INVITE_LABEL
        )
        if right.button("Create link", key=state.LISTEN_INVITE_CREATE):
            try:
                _, token = invites.create_invite(ws, label)
            except SvcqaError as exc:
                st.error(str(exc))
            else:
                st.session_state[state.LISTEN_INVITE_LINK] = invites.invite_link(
                    st.context.url or DEFAULT_APP_URL, token
                )
        link = st.session_state.get(state.LISTEN_INVITE_LINK)
        if link:
            st.code(link, language=None)
            st.caption("Copy it now: only a hash of it is stored, so it cannot be shown again.")
        open_invites = {i.id: i for i in invites.list_invites(ws) if not i.revoked}
        if not open_invites:
            return
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        picked = left.selectbox(
            "Open links",
            list(open_invites),
            format_func=lambda i: (
                f"{open_invites[i].label or 'no label'} (made "
                f"{datetime.fromtimestamp(open_invites[i].created_at):%Y-%m-%d %H:%M})"
            ),
            key=state.LISTEN_REVOKE_PICK,
        )
        if right.button("Revoke", key=state.LISTEN_REVOKE):
            invites.revoke_invite(ws, picked)
            st.session_state.pop(state.LISTEN_INVITE_LINK, None)
            st.rerun()
