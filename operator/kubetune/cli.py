"""The ``kubetune`` command: run a study locally, validate manifests, generate CRDs, show results.

Each subcommand is a thin function over the library; the work lives in ``local``,
``validation`` and ``api.crd`` so it can be tested without a terminal.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from rich.live import Live
from rich.table import Table

from kubetune import __version__, algorithms, convert, kube, stopping
from kubetune.api import crd
from kubetune.api.study import TuningStudy
from kubetune.engine import Planner, TrialSnapshot
from kubetune.importance import ImportanceMethod, ObjectiveImportance, parameter_importance
from kubetune.local.backend import LocalOptions, LocalStudy, StudyChanged, StudyView
from kubetune.local.progress import (
    best_parameters,
    console,
    panel,
    render_results,
    result_rows,
    status_line,
)
from kubetune.local.store import StudyStore
from kubetune.validation import FieldError, InvalidStudy, parse_study


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
    except InvalidStudy as error:
        _print_errors(args, error)
        return 1
    except (StudyChanged, FileNotFoundError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubetune", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kubetune {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    run = commands.add_parser("run", help="run a study on this machine, trials as processes")
    run.add_argument("study", type=Path, help="a TuningStudy manifest (YAML)")
    run.add_argument("--state-dir", type=Path, default=Path(".kubetune"))
    run.add_argument(
        "--gpus", default="", help="device ids to share out, e.g. 0,1,2,3 (CUDA_VISIBLE_DEVICES)"
    )
    run.add_argument("--fresh", action="store_true", help="discard an earlier run's trials")
    run.add_argument("--workdir", type=Path, help="trial working directory (default: the file's)")
    run.add_argument("--top", type=int, default=10, help="rows of the final table")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check manifests as the cluster would")
    validate.add_argument("files", type=Path, nargs="+")
    validate.set_defaults(handler=_validate)

    results = commands.add_parser("results", help="the trials of a local study, best first")
    results.add_argument("study", help="the study's manifest or its name")
    results.add_argument("--state-dir", type=Path, default=Path(".kubetune"))
    results.add_argument("--format", choices=["table", "json", "csv"], default="table")
    results.add_argument("--top", type=int, default=None)
    results.set_defaults(handler=_results)

    converter = commands.add_parser(
        "convert",
        help="turn a Katib Experiment into a TuningStudy",
        description="Convert a Katib kubeflow.org/v1beta1 Experiment into a TuningStudy; notes "
        "on what changed go into the YAML as comments and to stderr. Exit status: 0 converted "
        f"exactly, {EXIT_LOSSY} converted but something was approximated or dropped (read the "
        "notes), 1 refused or bad input.",
    )
    converter.add_argument("experiment", type=Path, help="a Katib Experiment manifest (YAML)")
    converter.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    converter.add_argument(
        "--trial-spec", type=Path, help="the trial template of a configMap trialSource (YAML)"
    )
    converter.set_defaults(handler=_convert)
    importance = commands.add_parser(
        "importance", help="which parameters matter in a local study, most first"
    )
    importance.add_argument("study", help="the study's manifest or its name")
    importance.add_argument("--state-dir", type=Path, default=Path(".kubetune"))
    importance.add_argument("--format", choices=["table", "json"], default="table")
    importance.add_argument(
        "--method",
        choices=[m.value for m in ImportanceMethod],
        default=ImportanceMethod.PED_ANOVA.value,
        help="ped-anova: what the best trials share (fast); fanova: what moves the loss most",
    )
    importance.set_defaults(handler=_importance)

    crds = commands.add_parser("crds", help="write the CustomResourceDefinitions")
    crds.add_argument("--out", type=Path, default=Path("crds"))
    crds.set_defaults(handler=_crds)

    operator = commands.add_parser("operator", help="run the Kubernetes operator (kopf)")
    kube.add_operator_arguments(operator)
    operator.set_defaults(handler=kube.run_operator)
    return parser


def load_study(path: Path) -> TuningStudy:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    studies = [d for d in documents if isinstance(d, dict) and d.get("kind") == "TuningStudy"]
    if len(studies) != 1:
        found = f"expected one document of kind TuningStudy, found {len(studies)}"
        raise InvalidStudy([FieldError(str(path), found)])
    return parse_study(studies[0])


def _run(args: argparse.Namespace) -> int:
    study = load_study(args.study)
    options = LocalOptions(
        state_dir=args.state_dir,
        workdir=args.workdir or args.study.resolve().parent,
        gpus=tuple(g.strip() for g in args.gpus.split(",") if g.strip()),
        fresh=args.fresh,
    )
    local = LocalStudy(study, options)
    resumed = local.open()
    out = console()
    if resumed:
        out.print(f"resuming {study.metadata.name}: {resumed} finished trials kept")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        view = _run_with_display(local, out)
    except KeyboardInterrupt:
        out.print(
            f"\ninterrupted; finished trials are kept in {local.store.root}. "
            f"Run `kubetune run {args.study}` again to resume."
        )
        return 130
    out.print(status_line(view))
    if view.ending is not None:
        out.print(f"study ended: {view.ending.outcome} — {view.ending.message}")
    rows = result_rows(view.trials, local.store, study.spec.objective_list)
    out.print(render_results(rows, "table", args.top))
    out.print(best_parameters(study, view))
    return 0 if view.summary.best_index is not None or view.summary.pareto_indices else 1


def _run_with_display(local: LocalStudy, out: Any) -> StudyView:
    if not out.is_terminal:
        last = [""]

        def print_changes(view: StudyView) -> None:
            line = status_line(view).rsplit(" | ", 1)[0]
            if line != last[0]:
                last[0] = line
                out.print(status_line(view))

        return local.run(print_changes)
    with Live(console=out, refresh_per_second=4, transient=True) as live:
        return local.run(lambda view: live.update(panel(view)))


def _raise_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            study = load_study(path)
        except InvalidStudy as error:
            failed += 1
            print(f"{path}: invalid", file=sys.stderr)
            for problem in error.errors:
                print(f"  {problem}", file=sys.stderr)
            continue
        print(f"{path}: ok ({study.metadata.name}, {study.spec.algorithm.name})")
    return 1 if failed else 0


def _results(args: argparse.Namespace) -> int:
    name = args.study
    if Path(name).is_file():
        name = load_study(Path(name)).metadata.name
    store = StudyStore(args.state_dir / name)
    if not store.exists():
        print(f"error: no local study {name!r} under {args.state_dir}", file=sys.stderr)
        return 1
    study = TuningStudy.model_validate(store.load_spec()["manifest"])
    rows = result_rows(store.load_trials(), store, study.spec.objective_list)
    output = render_results(rows, args.format, args.top)
    if isinstance(output, str):
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
    else:
        console().print(output)
    return 0


EXIT_LOSSY = 3
"""``kubetune convert``: the study was written, but something was approximated or dropped."""


def _convert(args: argparse.Namespace) -> int:
    document = yaml.safe_load(args.experiment.read_text())
    trial_spec = yaml.safe_load(args.trial_spec.read_text()) if args.trial_spec else None
    try:
        conversion = convert.convert_experiment(document, trial_spec)
    except convert.ConversionError as error:
        print(f"{args.experiment}: cannot convert: {error}", file=sys.stderr)
        return 1
    text = convert.render(conversion.manifest, conversion.notes, f"Katib {args.experiment.name}")
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for note in conversion.notes:
        print(f"  {note}", file=sys.stderr)
    where = args.output or "stdout"
    print(f"{args.experiment} → {where}: {len(conversion.notes)} notes", file=sys.stderr)
    return EXIT_LOSSY if conversion.is_lossy else 0


def _importance(args: argparse.Namespace) -> int:
    name = args.study
    if Path(name).is_file():
        name = load_study(Path(name)).metadata.name
    store = StudyStore(args.state_dir / name)
    if not store.exists():
        print(f"error: no local study {name!r} under {args.state_dir}", file=sys.stderr)
        return 1
    study = TuningStudy.model_validate(store.load_spec()["manifest"])
    planner = Planner(study.spec, name)
    trials = [
        TrialSnapshot(t.index, t.params, t.phase, dict(store.metrics(t.index).values))
        for t in store.load_trials()
    ]
    method = ImportanceMethod(args.method)
    results = parameter_importance(planner.space, planner.history(trials), method, planner.seed)
    phases = Counter(t.phase.value for t in trials)
    counts = ", ".join(f"{n} {phase.lower()}" for phase, n in sorted(phases.items())) or "none"
    if args.format == "json":
        print(json.dumps(_importance_json(name, method, results), indent=2))
    else:
        out = console()
        out.print(f"{name}: {len(trials)} trials ({counts}); method {method.value}")
        for result in results:
            out.print(_importance_table(result) if result.reason is None else result.reason)
    return 0 if any(r.reason is None for r in results) else 1


def _importance_json(
    name: str, method: ImportanceMethod, results: Sequence[ObjectiveImportance]
) -> dict[str, Any]:
    return {
        "study": name,
        "method": method.value,
        "objectives": [
            {
                "metric": r.objective.metric,
                "direction": r.objective.direction.value,
                "trialsUsed": r.used,
                "trialsDropped": r.dropped,
                "reason": r.reason,
                "firstOrder": r.first_order,
                "importances": [
                    {"parameter": p.name, "importance": p.importance} for p in r.importances
                ],
            }
            for r in results
        ],
    }


IMPORTANCE_BAR_WIDTH = 40
"""Characters of the bar drawn for an importance of 1 in ``kubetune importance``'s table."""


def _importance_table(result: ObjectiveImportance) -> Table:
    objective = result.objective
    table = Table(title=f"{objective.metric} ({objective.direction.value}): {result.used} trials")
    notes = []
    if result.first_order is not None:
        notes.append(f"single parameters explain {result.first_order:.0%} of the variance")
    if result.dropped:
        notes.append(f"left out: {result.dropped} completed trial(s) without a finite value")
    table.caption = "\n".join(notes) or None
    table.add_column("#", justify="right")
    table.add_column("parameter")
    table.add_column("importance", justify="right")
    table.add_column("")
    for rank, parameter in enumerate(result.importances, start=1):
        bar = "█" * round(parameter.importance * IMPORTANCE_BAR_WIDTH)
        table.add_row(str(rank), parameter.name, f"{parameter.importance:.3f}", bar)
    return table


def generated_crds() -> dict[str, str]:
    """File name → YAML of the CRDs, with every registered algorithm's and rule's settings."""
    documents = crd.crds(
        {name: a.Settings for name, a in algorithms.ALGORITHMS.items()},
        {name: r.Settings for name, r in stopping.RULES.items()},
    )
    return {name: crd.render(document) for name, document in documents.items()}


def _crds(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in generated_crds().items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


def _print_errors(args: argparse.Namespace, error: InvalidStudy) -> None:
    where = getattr(args, "study", None)
    print(f"{where}: invalid study" if where else "invalid study", file=sys.stderr)
    for problem in error.errors:
        print(f"  {problem}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
