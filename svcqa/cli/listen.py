"""``svcqa render``, ``svcqa listen``, ``svcqa export`` and ``svcqa metrics``: hearing the checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from svcqa.cli.common import (
    echo_err,
    echo_lines,
    existing_workspace,
    json_flag,
    workspace_argument,
    write_json,
)
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import DEFAULT_APP_URL
from svcqa.core.workspace import Workspace


@click.command("render")
@click.argument("workspace_dir", metavar="WORKSPACE", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--song",
    "song_file",
    metavar="FILE",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The song's dry vocals; copied into WORKSPACE/songs/ unless it is there already.",
)
@click.option(
    "--excerpt",
    "span",
    metavar="START:END",
    help="Seconds of the song to render (default: the suggested window around its highest sustained notes).",
)
@click.option(
    "--min-step",
    type=click.IntRange(min=0),
    default=None,
    help="Render checkpoints registered at or past this step (default: the workspace's threshold, 10000).",
)
@click.option(
    "--transpose", type=int, default=None, help="Semitones (default: the workspace's render settings)."
)
@click.option(
    "--f0-method", default=None, help="Pitch tracker: auto, crepe, crepe-tiny, parselmouth, dio, harvest."
)
@click.option("--speaker", default=None, help="Speaker of the model config (default: the first).")
@click.option("--force", is_flag=True, help="Render again even where a render is stored.")
@click.option(
    "--json",
    "json_out",
    metavar="OUT",
    help='Write {"excerpt", "settings_hash", "renders": [...]} as JSON to OUT (- for stdout).',
)
def render_command(
    workspace_dir: Path,
    song_file: Path,
    span: str | None,
    min_step: int | None,
    transpose: int | None,
    f0_method: str | None,
    speaker: str | None,
    force: bool,
    json_out: str | None,
) -> None:
    """Render an excerpt of a song with every registered checkpoint at or past a step.

    Features are computed once, each checkpoint only decodes, every render is loudness-matched
    and stored in WORKSPACE/renders/ (paths in the output are relative to WORKSPACE); a render
    already stored with the same settings is reused. A checkpoint that cannot be loaded is
    reported with its reason and the others render. Exit 1 when no checkpoint qualifies.
    """
    import dataclasses

    from svcqa.engines.svc import quiet_svc_logging
    from svcqa.listen.song_renders import render_song

    if not workspace_dir.is_dir():
        raise click.UsageError(f"Workspace {workspace_dir} does not exist.")
    if not song_file.is_file():
        raise click.UsageError(f"Song {song_file} does not exist.")
    ws = Workspace(workspace_dir).ensure_layout()
    overrides = {
        name: value
        for name, value in (
            ("min_step", min_step),
            ("transpose_semitones", transpose),
            ("f0_method", f0_method),
            ("speaker", speaker),
        )
        if value is not None
    }
    settings = dataclasses.replace(ws.load_settings().render, **overrides)
    quiet_svc_logging()
    try:
        done = render_song(
            ws, song_file, settings, span_s=_parse_span(span) if span else None, force=force, log=echo_err
        )
    except SvcqaError as exc:
        raise click.ClickException(str(exc)) from exc
    lines = [
        f"step {r.checkpoint_step:>8}  {r.checkpoint_sha256[:12]}  "
        + (f"failed: {r.error}" if r.error else f"{r.lufs if r.lufs is not None else '-':>7} LUFS  {r.path}")
        + ("  (cached)" if r.cached else "")
        + (f"  {r.message}" if r.message else "")
        for r in done.renders
    ]
    echo_lines(lines, json_out)
    if json_out:
        write_json(done.to_dict(), json_out)


def _parse_span(span: str) -> tuple[float, float]:
    """Return ``(start_s, end_s)`` of ``START:END`` in seconds; a usage error otherwise."""
    try:
        start, end = (float(part) for part in span.split(":"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{span!r} is not START:END in seconds, e.g. 12.5:37.5.", param_hint="--excerpt"
        ) from exc
    return start, end


@click.group("listen")
def listen() -> None:
    """The blind listening test from scripts: pairs, votes, results, reveal, vote-only links."""


def _listen_test(workspace_dir: Path) -> tuple[Workspace, Any, list[Any], Any]:
    """Return the workspace, its store, the test's stimuli and the listening settings."""
    from svcqa.listen.stimuli import stimuli_from_renders

    ws = existing_workspace(workspace_dir)
    return ws, ws.store(), stimuli_from_renders(ws), ws.load_settings().listen


def _advice(ws: Workspace, found: Any, stimuli: list[Any], blind: bool) -> Any:
    """Return the recommendation of the test (None in ``blind`` mode before reveal)."""
    from svcqa.listen.recommend import advise

    if blind and not found.revealed:
        return None
    return advise(ws, found, stimuli, ws.load_settings())


def _advice_json(advice: Any) -> dict[str, Any]:
    """Return the ``recommendation`` and ``overtraining_from_step`` keys (null in blind mode before reveal)."""
    return (
        advice.to_dict() if advice is not None else {"recommendation": None, "overtraining_from_step": None}
    )


def _advice_lines(advice: Any) -> list[str]:
    """Return the recommendation as text lines: the step (or the shortlist basis), then the reasons."""
    from svcqa.listen.recommend import BASES

    if advice is None:
        return ["Blind: the recommendation stays hidden until reveal."]
    found = advice.recommendation
    if found.checkpoint_step is None:
        head = "No recommendation yet."
    elif found.is_answer:
        sure = f"; confidence {found.confidence:.0%}" if found.confidence is not None else ""
        head = f"Use step {found.checkpoint_step} (from {BASES[found.basis]}{sure})."
    else:
        head = f"Shortlist basis, not the answer: step {found.checkpoint_step} ({BASES[found.basis]})."
    return [head, *(f"  - {reason}" for reason in found.reasons)]


def _ranking_lines(results: Any) -> list[str]:
    """Return the revealed ranking as text lines, best first, with where quality peaks."""
    from svcqa.listen.ranking import quality_curve

    lines = [
        f"  step {r.checkpoint_step:>8}: score {r.score:+.2f} (95% {r.ci_low:+.2f} to {r.ci_high:+.2f}), "
        f"{r.comparisons:g} comparisons"
        for r in results.ranking
    ]
    if results.votes and results.ranking:
        curve = quality_curve(results.ranking)
        lines.append(f"peak: step {curve.peak_step}; tied with it: {', '.join(map(str, curve.tied_steps))}")
        if curve.overtraining_step is not None:
            lines.append(f"clearly worse from step {curve.overtraining_step} on (overtraining)")
    return lines


@listen.command("results")
@workspace_argument
@click.option(
    "--blind",
    is_flag=True,
    help="You take the test too: before reveal leave out the shortlist basis (it names a step).",
)
@json_flag
def listen_results(workspace_dir: Path, blind: bool, as_json: bool) -> None:
    """Print the votes so far, the checkpoint to use and, once revealed, the ranking.

    After reveal, with enough blind judgements, the recommendation is the listeners' answer
    (basis blind_ranking or blind_ratings) and overtraining_from_step the first later step
    clearly worse. Before, the ranking is empty and the recommendation is the shortlist basis
    (objective metrics and loss), labelled so: never the answer. --blind leaves it out.
    """
    from svcqa.listen.ranking import results

    ws, store, stimuli, settings = _listen_test(workspace_dir)
    found = results(store, stimuli, settings=settings)
    advice = _advice(ws, found, stimuli, blind)
    if as_json:
        write_json({**found.to_dict(), **_advice_json(advice)}, "-")
        return
    click.echo(
        f"{found.votes} votes, {found.rated_trials} rated trials; revealed: {'yes' if found.revealed else 'no'}"
    )
    click.echo(found.refusal or "Every checkpoint had enough comparisons: reveal is allowed.")
    for line in [*_ranking_lines(found), *_advice_lines(advice)]:
        click.echo(line)


@listen.command("next")
@workspace_argument
@click.option("--listener", required=True, help="Your listener name (votes are kept per listener).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for a.wav and b.wav (default: a new temporary folder).",
)
@json_flag
def listen_next(workspace_dir: Path, listener: str, out_dir: Path | None, as_json: bool) -> None:
    """Write the listener's next blind pair as a.wav and b.wav and print its pair id.

    A pair given out earlier and not voted on yet is given again. The files are anonymised
    (loudness matched, no metadata) and named only a.wav and b.wav.
    """
    import tempfile

    from svcqa.listen.pair_files import write_next_pair

    _, store, stimuli, settings = _listen_test(workspace_dir)
    folder = out_dir or Path(tempfile.mkdtemp(prefix="svcqa-pair-"))
    files = write_next_pair(store, stimuli, listener, folder, settings)
    if as_json:
        write_json(files.to_dict(), "-")
        return
    click.echo(f"pair {files.pair_id}\nA: {files.a}\nB: {files.b}")
    click.echo(
        f"Vote with: python -m svcqa listen vote {workspace_dir} --listener {listener!r} "
        f"--pair {files.pair_id} --choice A|B|same"
    )


@listen.command("vote")
@workspace_argument
@click.option("--listener", required=True, help="The listener the pair was given to.")
@click.option("--pair", "pair_id", required=True, help="The pair id `listen next` printed.")
@click.option(
    "--choice", required=True, type=click.Choice(["A", "B", "same"]), help="The better side, or same."
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="A reason (repeatable): hoarse_high_notes, timbre_unlike_singer, slurred_words, pitch_errors, noise.",
)
@json_flag
def listen_vote(
    workspace_dir: Path, listener: str, pair_id: str, choice: str, tags: tuple[str, ...], as_json: bool
) -> None:
    """Record a vote on a pair; the same vote sent twice is stored once."""
    from svcqa.listen.pairs import vote

    _, store, _, _ = _listen_test(workspace_dir)
    cast = vote(store, pair_id, listener, choice, tags)
    if as_json:
        write_json(cast.to_dict(), "-")
    else:
        click.echo(f"Vote saved: {choice}" + (f" ({', '.join(cast.tags)})" if cast.tags else ""))


@listen.command("reveal")
@workspace_argument
@json_flag
def listen_reveal(workspace_dir: Path, as_json: bool) -> None:
    """Reveal which checkpoint is which and print the ranking; exit 1 with the reason while too few votes are in."""
    from svcqa.listen.ranking import reveal

    ws, store, stimuli, settings = _listen_test(workspace_dir)
    found = reveal(store, stimuli, settings=settings)
    advice = _advice(ws, found, stimuli, blind=False)
    if as_json:
        write_json({**found.to_dict(), **_advice_json(advice)}, "-")
        return
    click.echo(f"Revealed after {found.votes} votes and {found.rated_trials} rated trials.")
    for line in [*_ranking_lines(found), *_advice_lines(advice)]:
        click.echo(line)


@listen.command("invite")
@workspace_argument
@click.option("--label", default="", help="Whom the link is for (shown in the list of links).")
@click.option(
    "--url", "base_url", default=DEFAULT_APP_URL, show_default=True, help="The address listeners open."
)
@json_flag
def listen_invite(workspace_dir: Path, label: str, base_url: str, as_json: bool) -> None:
    """Create a vote-only link: it opens the Listen page only, and in public mode needs no password.

    Only a hash of the link's token is stored: copy the link now. Revoke it with `listen revoke`.
    """
    from svcqa.listen.invites import create_invite, invite_link

    ws = existing_workspace(workspace_dir)
    invite, token = create_invite(ws, label)
    link = invite_link(base_url, token)
    if as_json:
        write_json({"invite": invite.to_dict(), "link": link}, "-")
    else:
        click.echo(
            f"{link}\n(invitation {invite.id}; revoke with: python -m svcqa listen revoke {workspace_dir} {invite.id})"
        )


@listen.command("invites")
@workspace_argument
@json_flag
def listen_invites(workspace_dir: Path, as_json: bool) -> None:
    """List the vote-only links (their ids and labels; the links themselves are not stored)."""
    from svcqa.listen.invites import list_invites

    found = list_invites(existing_workspace(workspace_dir))
    if as_json:
        write_json([i.to_dict() for i in found], "-")
        return
    for invite in found:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(invite.created_at))
        click.echo(f"{invite.id}  {'revoked' if invite.revoked else 'open':8} {made}  {invite.label}")


@listen.command("revoke")
@workspace_argument
@click.argument("invite_id")
def listen_revoke(workspace_dir: Path, invite_id: str) -> None:
    """Close the vote-only link INVITE_ID at once, also for listeners who have it open."""
    from svcqa.listen.invites import revoke_invite

    revoke_invite(existing_workspace(workspace_dir), invite_id)
    click.echo(f"Invitation {invite_id} revoked.")


@click.command("export")
@workspace_argument
@click.argument("out_zip", metavar="OUT.zip", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--step", required=True, type=click.IntRange(min=0), help="Step of the registered checkpoint.")
@json_flag
def export_command(workspace_dir: Path, out_zip: Path, step: int, as_json: bool) -> None:
    """Write the checkpoint of step N as a small inference model: G_<N>.pth without optimizer state plus config.json.

    The zip loads in so-vits-svc-fork (svc infer -m G_<N>.pth -c config.json) and sings exactly
    like the training checkpoint.
    """
    from svcqa.listen.export import export_step

    if out_zip.suffix.lower() != ".zip":
        raise click.UsageError("OUT.zip must end in .zip.")
    exported = export_step(existing_workspace(workspace_dir), step, out_zip)
    if as_json:
        write_json(exported.to_dict(), "-")
    else:
        click.echo(
            f"Wrote {exported.path}: {exported.model_name} and config.json, {exported.size_bytes / 1e6:.1f} MB "
            f"(the training checkpoint is {exported.checkpoint_bytes / 1e6:.1f} MB)."
        )


@click.command("metrics")
@click.argument("workspace", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_out", metavar="OUT", help="Write the metrics as JSON to OUT (- for stdout).")
def metrics(workspace: Path, json_out: str | None) -> None:
    """Objective metrics of every rendered checkpoint (screens that save listening time, not verdicts)."""
    from svcqa.listen.checkpoint_metrics import METRIC_LABELS, workspace_metrics

    ws = Workspace(workspace)
    rows = workspace_metrics(ws, ws.load_settings(), progress=lambda _f, m: click.echo(m, err=True))
    if json_out:
        write_json({"checkpoints": [row.to_dict() for row in rows]}, json_out)
    if json_out != "-":
        if not rows:
            click.echo(
                "No renders yet: render a test song through the checkpoints first (python -m svcqa render)."
            )
        for row in rows:
            values = ", ".join(
                f"{METRIC_LABELS[name]} {value:.3g}"
                for name, value in row.values.items()
                if value is not None
            )
            click.echo(f"step {row.checkpoint_step:>7,}: {values or 'no values'}")
