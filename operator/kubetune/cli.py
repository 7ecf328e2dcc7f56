"""The ``kubetune`` command: run a study locally, validate manifests, generate CRDs, show results.

Each subcommand is added by its own ``_add_*`` function and handled by a thin function over
the library; the work lives in ``local``, ``kube``, ``validation``, ``record`` and
``api.crd``, so it can be tested without a terminal. A new subcommand is one more ``_add_*``
function in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from rich.live import Live

from kubetune import __version__, algorithms, kube, stopping
from kubetune.api import crd
from kubetune.api.study import TuningStudy
from kubetune.local.backend import LocalOptions, LocalStudy, StudyChanged, StudyView
from kubetune.local.progress import (
    RESULT_FORMATS,
    console,
    panel,
    render_results,
    status_line,
    study_result,
)
from kubetune.local.reader import read_local_study
from kubetune.record import RecordUnavailable, StudyRecord
from kubetune.validation import FieldError, InvalidStudy, parse_study

DESCRIPTION = """\
kubetune tunes hyperparameters. Describe a study once, in a TuningStudy manifest: what to
optimize, the parameters to search, the algorithm, the budget and the training command. Run
it on this machine with `kubetune run` (each trial a process), or `kubectl apply` it to a
cluster running the kubetune operator (each trial a Job); read its results the same way
from either with `kubetune results`."""

EPILOG = """\
examples:
  kubetune run examples/branin.yaml             tune on this machine; rerun to resume
  kubetune run study.yaml --gpus 0,1,2,3        hand one device to each trial
  kubetune results branin                       trials of a local study, best first
  kubetune results branin --format csv > b.csv  every trial, for a spreadsheet
  kubetune results resnet-lr --cluster -n ml    a study on the current kubectl cluster
  kubetune validate studies/*.yaml              check manifests before kubectl apply
  kubetune crds --out crds                      write the CRDs (the Helm chart has them)

`kubetune COMMAND --help` explains each command."""

DEFAULT_STATE_DIR = Path(".kubetune")
"""Where ``kubetune run`` keeps local studies, one folder per study name."""


class ManifestUnreadable(ValueError):
    """A manifest file that is missing, unreadable or not YAML; the message names the file."""


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
    except (StudyChanged, ManifestUnreadable, RecordUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubetune",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kubetune {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", title="commands")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


Subcommands = Any  # argparse's private _SubParsersAction


def _command(commands: Subcommands, name: str, summary: str, details: str) -> Any:
    """A subcommand whose one-line ``summary`` shows in ``kubetune --help``."""
    return commands.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}.\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="where local studies are kept, one folder per study name (default: .kubetune)",
    )


def _add_run(commands: Subcommands) -> None:
    run = _command(
        commands,
        "run",
        "run a study on this machine, each trial a process",
        "Trials run the manifest's first container command, in the manifest's folder, with\n"
        "${params.NAME} filled in. Everything is kept under --state-dir: interrupt the run\n"
        "at any time and run the same command again to continue where it stopped.",
    )
    run.add_argument("study", type=Path, help="a TuningStudy manifest (YAML)")
    _state_dir_argument(run)
    run.add_argument(
        "--gpus",
        default="",
        metavar="IDS",
        help="device ids to share out among trials, e.g. 0,1,2,3; each trial sees its own "
        "through CUDA_VISIBLE_DEVICES",
    )
    run.add_argument(
        "--fresh", action="store_true", help="discard an earlier run's trials and start over"
    )
    run.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="working directory of trial processes (default: the manifest's folder)",
    )
    run.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="rows of the results table printed at the end (default: 10)",
    )
    run.set_defaults(handler=_run)


def _add_validate(commands: Subcommands) -> None:
    validate = _command(
        commands,
        "validate",
        "check study manifests as the cluster and the operator would",
        "Every file is checked and reported, even after one fails; the exit code is 1 if\n"
        "any file is missing, is not YAML or holds an invalid study.",
    )
    validate.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="TuningStudy manifests (YAML)"
    )
    validate.set_defaults(handler=_validate)


def _add_results(commands: Subcommands) -> None:
    results = _command(
        commands,
        "results",
        "show the trials of a study, best first",
        "Reads a local study from --state-dir, or with --cluster a TuningStudy and its\n"
        "Trials from a Kubernetes cluster. Columns: trial, phase, objectives, extra\n"
        "metrics, parameters, attributes, seconds, reason and message. Several objectives:\n"
        "the Pareto front is marked and listed.",
    )
    results.add_argument(
        "study", help="the study's name, or its manifest (the name is read from it)"
    )
    _state_dir_argument(results)
    results.add_argument(
        "--format",
        choices=RESULT_FORMATS,
        default="table",
        help="table for people (default), json or csv for programs; json and csv carry "
        "every trial's full message",
    )
    results.add_argument(
        "--top", type=int, default=None, metavar="N", help="only the N best trials (default: all)"
    )
    cluster = results.add_argument_group("studies on a cluster")
    cluster.add_argument(
        "--cluster",
        action="store_true",
        help="read the study from a Kubernetes cluster instead of --state-dir",
    )
    cluster.add_argument(
        "-n",
        "--namespace",
        help="the study's namespace (default: the manifest's, else the kubeconfig context's, "
        "else default)",
    )
    cluster.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )
    results.set_defaults(handler=_results)


def _add_crds(commands: Subcommands) -> None:
    crds = _command(
        commands,
        "crds",
        "write the TuningStudy and Trial CustomResourceDefinitions",
        "The CRDs are generated from kubetune's models, with every algorithm's and stopping\n"
        "rule's settings. The Helm chart installs the same files.",
    )
    crds.add_argument(
        "--out",
        type=Path,
        default=Path("crds"),
        metavar="DIR",
        help="folder to write tuningstudies.yaml and trials.yaml into (default: crds)",
    )
    crds.set_defaults(handler=_crds)


def _add_operator(commands: Subcommands) -> None:
    operator = _command(
        commands,
        "operator",
        "run the Kubernetes operator",
        "What the Helm chart's Deployment runs: it reconciles TuningStudies into Trials and\n"
        "Jobs. Run it by hand against a cluster for development.",
    )
    kube.add_operator_arguments(operator)
    operator.set_defaults(handler=kube.run_operator)


SUBCOMMANDS: list[Callable[[Subcommands], None]] = [
    _add_run,
    _add_validate,
    _add_results,
    _add_crds,
    _add_operator,
]
"""The subcommands in the order ``kubetune --help`` lists them."""


def load_study(path: Path) -> TuningStudy:
    """The one TuningStudy in the file at ``path``; ``ManifestUnreadable`` or ``InvalidStudy``."""
    try:
        with path.open() as stream:  # a named stream: YAML errors say which file
            documents = [d for d in yaml.safe_load_all(stream) if d]
    except OSError as error:
        raise ManifestUnreadable(f"{path}: cannot read it: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ManifestUnreadable(f"{path}: not a text file") from None
    except yaml.YAMLError as error:
        raise ManifestUnreadable(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    studies = [d for d in documents if isinstance(d, dict) and d.get("kind") == "TuningStudy"]
    if len(studies) != 1:
        found = f"expected one document of kind TuningStudy, found {len(studies)}"
        raise InvalidStudy([FieldError(str(path), found)])
    return parse_study(studies[0])


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's explanation on one line, with the line and column, without its file name."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return str(error)
    mark = error.problem_mark
    problem = ": ".join(p for p in (error.context, error.problem) if p)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


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
    record = read_local_study(args.state_dir, study.metadata.name)
    out.print(render_results(record, "table", args.top))
    out.print(study_result(record))
    return 0 if record.summary.has_result else 1


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
        except ManifestUnreadable as error:
            failed += 1
            print(error, file=sys.stderr)
            continue
        except InvalidStudy as error:
            failed += 1
            print(f"{path}: invalid", file=sys.stderr)
            for problem in error.errors:
                print(f"  {problem}", file=sys.stderr)
            continue
        print(f"{path}: ok ({study.metadata.name}, {study.spec.algorithm.name})")
    return 1 if failed else 0


def _results(args: argparse.Namespace) -> int:
    record = _read_record(args)
    output = render_results(record, args.format, args.top)
    if isinstance(output, str):
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
        return 0
    out = console()
    out.print(output)
    out.print(study_result(record))
    return 0


def _read_record(args: argparse.Namespace) -> StudyRecord:
    name, namespace = args.study, args.namespace
    if Path(name).is_file():
        study = load_study(Path(name))
        name, namespace = study.metadata.name, namespace or study.metadata.namespace
    if not args.cluster:
        if args.namespace or args.kubeconfig:
            raise RecordUnavailable("--namespace and --kubeconfig read a cluster: add --cluster")
        return read_local_study(args.state_dir, name)
    # Imported here: the kubernetes client takes a while to import and only --cluster needs it.
    from kubetune.kube.reader import read_cluster_study

    return read_cluster_study(name, namespace, args.kubeconfig)


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
