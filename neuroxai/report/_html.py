"""The audit's plain-language verdicts, its summary and the ``mne.Report`` HTML."""
from __future__ import annotations

import html
import json

_NECESSARY = ("Randomisation checks test whether a map depends on what the model learned: "
              "passing them is necessary, not sufficient — it does not show that the map is "
              "right, only that it is not independent of the model.")


def gate_sentence(gate):
    """The model gate in words: accuracy, chance, p-value, and what it allows to conclude."""
    head = (f"Accuracy {gate['accuracy']:.3f} on {gate['n']} trials ({gate['evaluated_on']}); "
            f"chance level {gate['chance']:.3f}; one-sided binomial p = {gate['p_value']:.3g}.")
    if gate["above_chance"]:
        return head + " The model decodes above chance, so its maps can say something."
    return (head + " The model is not above chance: the maps explain noise, and nothing can be "
            "concluded from them about where the information lies.")


def method_verdicts(ctx):
    """One line per method: what the checks allow to say about its maps."""
    gate = ctx.source.gate
    out = {}
    for m in ctx.methods:
        mine = [r for r in ctx.results if r.method == m]
        if not gate["above_chance"]:
            out[m] = "model not above chance — the maps explain noise."
            continue
        failed = [f"{r.test} ({r.reason})" for r in mine if r.verdict == "FAIL"]
        passed = [r.test for r in mine if r.verdict == "PASS"]
        silent = [f"{r.test}: {r.verdict.lower()} ({r.reason})" for r in mine
                  if r.verdict not in ("PASS", "FAIL")]
        if failed:
            out[m] = ("does not pass " + "; ".join(failed) + " — its map does not depend enough "
                      "on what it claims to explain.")
        elif passed:
            out[m] = (f"passes {' and '.join(passed)} randomisation (necessary, not sufficient)"
                      + (f"; {'; '.join(silent)}" if silent else "") + ".")
        else:
            out[m] = "no randomisation check could decide: " + "; ".join(silent) + "."
    return out


def write_report(ctx, dataset, timings):
    """Write the tables (CSV) and ``report.html`` into the context's folder; return the
    summary (also written as ``summary.json`` by the caller)."""
    import mne

    from ._audit import versions
    from ._steps import AUDIT_METHOD_PARAMS

    (ctx.out / "tables").mkdir(exist_ok=True)
    for key, df in ctx.tables.items():
        df.to_csv(ctx.out / "tables" / f"{key}.csv")
    src, gate = ctx.source, ctx.source.gate
    verdicts = method_verdicts(ctx)
    summary = dict(
        dataset=dataset if isinstance(dataset, str) else type(dataset).__name__,
        data=src.description, checkpoint=src.checkpoint,
        model={k: v for k, v in gate.items()},
        accuracy=gate["accuracy"], chance=gate["chance"], p_value=gate["p_value"],
        above_chance=gate["above_chance"], n_trials_audited=len(ctx.sub),
        methods=ctx.methods, seed=ctx.seed,
        method_params={m: AUDIT_METHOD_PARAMS.get(m, {}) for m in ctx.methods},
        verdicts=[dict(method=r.method, test=r.test, verdict=r.verdict) for r in ctx.results],
        method_verdicts=verdicts, notes=src.notes, versions=versions())
    lines = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(v)}</li>"
                    for m, v in verdicts.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in src.notes)
    # PNG rather than MNE's default WebP: every browser and image viewer shows it the same
    report = mne.Report(title="neuroxai attribution audit", image_format="png", verbose=False)
    report.add_html(
        f"<p>{html.escape(src.description)}. Model: <code>{type(ctx.model).__name__}</code> "
        f"({html.escape(src.checkpoint)}). Audited: {len(ctx.sub)} trials, methods "
        f"{', '.join(ctx.methods)}.</p>"
        f"<h4>Does the model decode?</h4><p>{html.escape(gate_sentence(gate))}</p>"
        f"<h4>Can these maps be trusted?</h4><ul>{lines}</ul>"
        f"<p><i>{html.escape(_NECESSARY)}</i></p>"
        + (f"<h4>Notes</h4><ul>{notes}</ul>" if notes else ""),
        title="Summary", section="Summary")
    for key, caption in ctx.figures.items():
        # the PNG written by the step, embedded as is: re-rendering constrained-layout
        # topomap grids through add_figure() shears them
        report.add_image(ctx.out / "figures" / f"{key}.png",
                         title=key.replace("_", " ").capitalize(), caption=caption,
                         section="Figures")
    for key, df in ctx.tables.items():
        report.add_html(df.to_html(float_format=lambda v: f"{v:.3g}", border=0),
                        title=f"Table: {key}", section="Tables")
    report.add_html("<pre>" + html.escape(json.dumps(
        {k: v for k, v in summary.items() if k != "verdicts"}, indent=1, default=str))
        + "</pre>", title="Versions and parameters", section="Provenance")
    report.save(ctx.out / "report.html", overwrite=True, open_browser=False, verbose=False)
    return summary
