"""Train page: start, watch, stop and resume so-vits-svc-fork training; checkpoints and disk."""

from __future__ import annotations

import streamlit as st

from svcqa.core import gpu, jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import TRAIN_ACCELERATORS, TRAIN_PRECISIONS
from svcqa.demo.model import TOY_NOTICE, is_toy
from svcqa.train import training
from svcqa.ui import state, train_view
from svcqa.ui.metrics_panel import curve_reader, metrics_panel

ws = state.current_workspace()
settings = ws.load_settings()
train = settings.train
st.title("Train")
st.caption(
    "Runs so-vits-svc-fork's training in the background: it goes on when this tab or the server "
    f"closes, and this page picks it up again. Listen from about {train.listen_from_step // 1000}k steps; "
    f"{train.suggested_steps // 1000}k is usually usable; do not go past {train.advised_max_steps // 1000}k."
)
if is_toy(ws):
    st.info(TOY_NOTICE)

current = training.status(ws)
running = current.state == "running"
newest = current.checkpoints[-1].step if current.checkpoints else None

with st.expander("Options", expanded=not running and newest is None):
    c1, c2, c3, c4, c5 = st.columns(5)
    target_steps = c1.number_input(
        "Target steps",
        min_value=1,
        value=train.target_steps,
        step=1000,
        key=state.TRAIN_TARGET_STEPS,
        help=f"Training stops, saved, at this step. {train.suggested_steps:,} is usually usable; "
        f"past {train.advised_max_steps:,} it rarely improves.",
        disabled=running,
    )
    batch_size = c2.number_input(
        "Batch size",
        min_value=1,
        value=train.batch_size,
        key=state.TRAIN_BATCH_SIZE,
        help="Clips per step. Lower it when the GPU runs out of memory.",
        disabled=running,
    )
    precision = c3.selectbox(
        "Precision",
        TRAIN_PRECISIONS,
        index=TRAIN_PRECISIONS.index(train.precision),
        key=state.TRAIN_PRECISION,
        help="Mixed precision (16/bf16) needs less GPU memory; use 32 if the loss turns NaN.",
        disabled=running,
    )
    log_interval = c4.number_input(
        "Log interval", min_value=1, value=train.log_interval, key=state.TRAIN_LOG_INTERVAL, disabled=running
    )
    eval_interval = c5.number_input(
        "Eval interval",
        min_value=1,
        value=train.eval_interval,
        key=state.TRAIN_EVAL_INTERVAL,
        help="Steps between checkpoints (each also writes a ~560 MB D_*.pth; old ones rotate away, "
        "the archive keeps every generator).",
        disabled=running,
    )
    d1, d2, _ = st.columns([1, 1, 3])
    devices = d1.number_input(
        "Devices",
        min_value=0,
        value=train.devices,
        key=state.TRAIN_DEVICES,
        help="Training processes, one per device, trained together (Lightning DDP) when more than "
        "one; 0: every visible GPU, else one CPU process.",
        disabled=running,
    )
    accelerator = d2.selectbox(
        "Accelerator",
        TRAIN_ACCELERATORS,
        index=TRAIN_ACCELERATORS.index(train.accelerator),
        key=state.TRAIN_ACCELERATOR,
        help="auto: the GPU when there is one.",
        disabled=running,
    )

b1, b2, b3 = st.columns([1, 1, 3])
label = f"Resume from step {newest:,}" if newest is not None else "Start training"
if b1.button(label, key=state.TRAIN_START, type="primary", disabled=running):
    chosen = settings.with_section(
        "train",
        target_steps=int(target_steps),
        batch_size=int(batch_size),
        precision=precision,
        log_interval=int(log_interval),
        eval_interval=int(eval_interval),
        devices=int(devices),
        accelerator=accelerator,
    )
    try:
        ws.save_settings(chosen)
        training.start(ws, chosen.train)
    except SvcqaError as exc:
        st.error(str(exc))
    else:
        st.rerun()
if b2.button("Stop (saves)", key=state.TRAIN_STOP, disabled=not running):
    training.request_stop(ws)
    st.toast("Stopping: the run saves G and D, then ends.")
    st.rerun()
if running and current.job and training.stop_requested(ws, current.job):
    b3.caption("Stop requested: saving, then ending. If it hangs, stop without saving:")
    if b3.button("Stop now (no save)", key=state.TRAIN_FORCE_STOP):
        jobs.stop(ws, current.job.id, timeout_s=train.force_stop_timeout_s)
        st.rerun()


@st.fragment(run_every=train.refresh_s if running else None)
def live_view() -> None:
    view = training.status(ws)
    previous = st.session_state.get(state.TRAIN_LAST_STATE)
    st.session_state[state.TRAIN_LAST_STATE] = view.state
    if previous is not None and previous != view.state:
        st.rerun()  # the buttons above depend on the state
    progress = view.progress
    target = view.run.target_steps if view.run else train.target_steps
    live = progress if view.state == "running" else None
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("State", live.state if live else "starting" if view.state == "running" else view.state)
    m2.metric("Step", "-" if view.step is None else f"{view.step:,}", help=f"Target {target:,}")
    m3.metric("Steps/s", f"{live.steps_per_s:.2f}" if live and live.steps_per_s else "-")
    m4.metric("ETA to target", train_view.format_duration(live.eta_s if live else None))
    m5.metric("Epoch", progress.epoch if progress else "-")
    if view.step is not None:
        st.progress(min(view.step / target, 1.0), text=f"{view.step:,} / {target:,} steps")
    for found in view.diagnoses:
        show = st.error if found.severity == "error" else st.warning
        show(f"**{found.title}.** {found.explanation}\n\n**Fix:** {found.fix}")
        if found.evidence:
            st.code(found.evidence, language=None)

    d1, d2, d3 = st.columns(3)
    d1.metric(
        "Archive",
        f"{view.disk.archive_bytes / 1e9:.2f} GB",
        help="Every generator checkpoint ever registered.",
    )
    d2.metric("Run folder checkpoints", f"{view.disk.run_folder_bytes / 1e9:.2f} GB")
    d3.metric("Free disk", f"{view.disk.free_bytes / 1e9:.1f} GB")
    if view.disk_warning:
        st.warning(view.disk_warning)

    gpus = gpu.list_gpus()
    used = ", ".join(progress.devices) if progress and progress.devices else None
    if gpus:
        st.dataframe(train_view.gpu_rows(gpus), hide_index=True, width="stretch", key="train_gpus")
    else:
        st.caption(
            "No NVIDIA GPU found: training runs on the CPU (fine for the demo, far too slow for a real voice)."
        )
    if used:
        ranks = f" ({progress.world_size} processes, Lightning DDP)" if progress.world_size > 1 else ""
        st.caption(f"This run uses: {used}{ranks}")

    curves, table, log = st.tabs(["Loss curves", "Checkpoints", "Log"])
    with curves:
        series = curve_reader(str(ws.logs_44k)).reload()
        if not series:
            st.caption("No curves yet: so-vits-svc-fork writes them every log interval.")
        else:
            tags = list(series)
            default = [t for t in tags if t.startswith("loss/")] or tags
            chosen = st.multiselect("Curves", tags, default=default, key=state.TRAIN_TAGS)
            weight = st.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key=state.TRAIN_SMOOTHING)
            marks = train_view.milestones(train)
            st.plotly_chart(
                train_view.loss_figure(series, chosen, weight, marks), width="stretch", key="train_curves"
            )
            upcoming = train_view.next_milestone(marks, view.step or 0)
            if upcoming:
                st.caption(
                    f"Next mark: step {upcoming[0]:,} ({upcoming[1]}), {upcoming[0] - (view.step or 0):,} steps away."
                )
    with table:
        if view.checkpoints:
            st.dataframe(
                train_view.checkpoint_rows(view.checkpoints),
                hide_index=True,
                width="stretch",
                key="train_ckpts",
            )
            st.caption(
                "Every generator is kept in the archive (.svcqa/archive) even after so-vits-svc-fork "
                "rotates it out of logs/44k; 'derived' steps were computed from the epoch."
            )
        else:
            st.caption("No checkpoints yet: the first comes after one eval interval.")
    with log:
        st.code(training.log_tail(ws, 60) or "(no training log yet)", language=None)


live_view()

st.subheader("Objective metrics per checkpoint")
metrics_panel(ws, settings, train)
