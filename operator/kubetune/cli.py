"""The ``kubetune`` command: run a study locally, validate manifests, generate CRDs, show results.

Each subcommand is added by its own ``_add_*`` function and handled by a thin function over
the library; the work lives in ``local``, ``kube``, ``validation``, ``record`` and
``api.crd``, so it can be tested without a terminal. A new subcommand is one more ``_add_*``
function in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from rich.live import Live
from rich.table import Table

from kubetune import __version__, algorithms, convert, kube, stopping, warmstart
from kubetune.api import crd
from kubetune.api.study import TuningStudy
from kubetune.engine import Planner, TrialSnapshot
from kubetune.importance import ImportanceMethod, ObjectiveImportance, parameter_importance
from kubetune.local.backend import LocalOptions, LocalStudy, StudyChanged, StudyView
from kubetune.local.progress import (
    RESULT_FORMATS,
    console,
    panel,
    render_results,
    status_line,
    study_result,
    warm_start_text,
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
  kubetune results branin --format optuna-csv   the columns of Optuna's trials_dataframe()
  kubetune results resnet-lr --cluster -n ml    a study on the current kubectl cluster
  kubetune importance branin                    which parameters matter, most first
  kubetune report branin -o branin.html         every plot of a study in one HTML file
  kubetune dashboard                            browse local studies at http://127.0.0.1:8080
  kubetune validate studies/*.yaml              check manifests before kubectl apply
  kubetune convert experiment.yaml -o s.yaml    a Katib Experiment as a TuningStudy
  kubetune warm-start-configmap past.csv --name past | kubectl apply -f -
                                                a results file for a cluster's warm start
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
        "--trials-per-gpu",
        type=_at_least_one,
        default=1,
        metavar="K",
        help="one-GPU trials that share each --gpus device at once (default: 1); a trial "
        "asking for several GPUs still takes whole devices, and GPU-seconds count 1/K",
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
        "the Pareto front is marked and listed; with constraints, an infeasible column says\n"
        "which limit a trial broke.",
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
        "every trial's full message; optuna-csv: the columns of Optuna's "
        "study.trials_dataframe() (number, value, params_*, state, duration, ...)",
    )
    results.add_argument(
        "--top", type=int, default=None, metavar="N", help="only the N best trials (default: all)"
    )
    results.add_argument(
        "--pareto",
        action="store_true",
        help="only the trials on the Pareto front (several objectives; feasible trials only)",
    )
    _cluster_arguments(results)
    results.set_defaults(handler=_results)


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--cluster, --namespace and --kubeconfig: read the study from a cluster instead."""
    cluster = parser.add_argument_group("studies on a cluster")
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


def _add_importance(commands: Subcommands) -> None:
    importance = _command(
        commands,
        "importance",
        "show which parameters matter in a study, most first",
        "Scores each parameter's share in how good trials are, per objective, from the\n"
        "study's completed trials (local, or with --cluster on a Kubernetes cluster);\n"
        "docs/importance.md says how to read the numbers.",
    )
    importance.add_argument(
        "study", help="the study's name, or its manifest (the name is read from it)"
    )
    _state_dir_argument(importance)
    importance.add_argument(
        "--format", choices=["table", "json"], default="table", help="table (default) or json"
    )
    importance.add_argument(
        "--method",
        choices=[m.value for m in ImportanceMethod],
        default=ImportanceMethod.PED_ANOVA.value,
        help="ped-anova: what the best trials share (fast, default); fanova: what moves the "
        "loss most",
    )
    _cluster_arguments(importance)
    importance.set_defaults(handler=_importance)


def _add_report(commands: Subcommands) -> None:
    report = _command(
        commands,
        "report",
        "write a study's plots into one HTML page that works offline",
        "Optimization history, importance, parallel coordinates, slices, contours,\n"
        "learning curves, Pareto front and hypervolume (several objectives), the timeline\n"
        "and the failures of a local study (or with --cluster one on a Kubernetes cluster),\n"
        "all in one file with its scripts inside. Needs pip install 'kubetune[report]';\n"
        "docs/report.md says how to read each plot.",
    )
    report.add_argument(
        "study", help="the study's name, or its manifest (the name is read from it)"
    )
    _state_dir_argument(report)
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="the HTML file to write (default: STUDY-report.html in this folder)",
    )
    _cluster_arguments(report)
    report.set_defaults(handler=_report)


def _add_dashboard(commands: Subcommands) -> None:
    dashboard = _command(
        commands,
        "dashboard",
        "serve a read-only web view of studies, updating live",
        "Lists the studies of --state-dir (or with --cluster the TuningStudies of a\n"
        "namespace), and for each a trial table you can sort, filter and cut to the top K,\n"
        "following the study as trials finish, and every trial's parameters, metrics,\n"
        "curve and failure message. It only reads. It listens on 127.0.0.1 unless --host\n"
        "says otherwise; docs/operations.md shows how the Helm chart runs it in a cluster.",
    )
    _state_dir_argument(dashboard)
    dashboard.add_argument(
        "--host",
        default=DASHBOARD_HOST,
        help=f"address to listen on (default: {DASHBOARD_HOST}, this machine only); anything "
        "else lets the network read your studies",
    )
    dashboard.add_argument(
        "--port", type=int, default=DASHBOARD_PORT, help=f"port (default: {DASHBOARD_PORT})"
    )
    _cluster_arguments(dashboard)
    dashboard.set_defaults(handler=_dashboard)


def _add_convert(commands: Subcommands) -> None:
    converter = _command(
        commands,
        "convert",
        "turn a Katib Experiment into a TuningStudy",
        "Converts a Katib kubeflow.org/v1beta1 Experiment; notes on what changed go into\n"
        "the YAML as comments and to stderr. Exit status: 0 converted exactly,\n"
        f"{EXIT_LOSSY} converted but something was approximated or dropped (read the notes),\n"
        "1 refused or bad input. docs/from-katib.md has the details.",
    )
    converter.add_argument("experiment", type=Path, help="a Katib Experiment manifest (YAML)")
    converter.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write here (default: stdout)"
    )
    converter.add_argument(
        "--trial-spec",
        type=Path,
        metavar="FILE",
        help="the trial template of a configMap trialSource (YAML)",
    )
    converter.set_defaults(handler=_convert)


def _add_warm_start_config_map(commands: Subcommands) -> None:
    command = _command(
        commands,
        "warm-start-configmap",
        "print a ConfigMap that carries a results file to a cluster for warm start",
        "The operator cannot read files on your machine: put the results file (CSV or JSON,\n"
        "kubetune's or Optuna's columns) in a ConfigMap of the study's namespace and name it\n"
        "in spec.warmStart.configMap. Pipe the output to kubectl apply -f -. With --study the\n"
        "file is first checked against the study it is for. docs/manifest.md#warm-start.",
    )
    command.add_argument("results", type=Path, help="a results file, .csv or .json")
    command.add_argument("--name", required=True, help="the ConfigMap's name")
    command.add_argument(
        "--key", help="the key that holds the file (default: the file's name); ends .csv or .json"
    )
    command.add_argument("-n", "--namespace", help="the study's namespace (default: kubectl's)")
    command.add_argument(
        "--study", type=Path, metavar="FILE", help="check the file against this TuningStudy"
    )
    command.set_defaults(handler=_warm_start_config_map)


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
    _add_importance,
    _add_report,
    _add_dashboard,
    _add_convert,
    _add_warm_start_config_map,
    _add_crds,
    _add_operator,
]
"""The subcommands in the order ``kubetune --help`` lists them."""


def read_documents(path: Path) -> list[Any]:
    """The YAML documents in the file at ``path``; ``ManifestUnreadable`` names the file."""
    try:
        with path.open() as stream:  # a named stream: YAML errors say which file
            return [d for d in yaml.safe_load_all(stream) if d]
    except OSError as error:
        raise ManifestUnreadable(f"{path}: cannot read it: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ManifestUnreadable(f"{path}: not a text file") from None
    except yaml.YAMLError as error:
        raise ManifestUnreadable(f"{path}: not valid YAML: {_yaml_problem(error)}") from None


def load_study(path: Path) -> TuningStudy:
    """The one TuningStudy in the file at ``path``; ``ManifestUnreadable`` or ``InvalidStudy``."""
    documents = read_documents(path)
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
        study_dir=args.study.resolve().parent,
        gpus=tuple(g.strip() for g in args.gpus.split(",") if g.strip()),
        trials_per_gpu=args.trials_per_gpu,
        fresh=args.fresh,
    )
    local = LocalStudy(study, options)
    resumed = local.open()
    out = console()
    if resumed:
        out.print(f"resuming {study.metadata.name}: {resumed} finished trials kept")
    if study.spec.warm_start is not None:
        out.print(f"warm start: {local.planner.warm.describe()}")
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


def _at_least_one(text: str) -> int:
    """A count given on the command line that must be a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


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
    output = render_results(record, args.format, args.top, pareto=args.pareto)
    if isinstance(output, str):
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
        return 0
    out = console()
    out.print(output)
    out.print(study_result(record))
    warm = warm_start_text(record)
    if warm is not None:
        out.print(warm)
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


def _report(args: argparse.Namespace) -> int:
    # Imported here: only reports need it, and it reads plotly.js, an optional extra.
    from kubetune.report import PlotlyMissing, write_report

    record = _read_record(args)
    output = args.output or Path(f"{record.name}-report.html")
    try:
        figures = write_report(record, output)
    except PlotlyMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot write {output}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {output}: {len(figures.figures)} plots of {record.summary.total:,} trials")
    return 0


DASHBOARD_HOST = "127.0.0.1"
"""``kubetune dashboard`` listens on this machine only unless told otherwise."""
DASHBOARD_PORT = 8080


def _dashboard(args: argparse.Namespace) -> int:
    # Imported here: only this command needs the HTTP server.
    from kubetune.dashboard.server import ClusterSource, LocalSource, is_loopback, make_server

    if not args.cluster and (args.namespace or args.kubeconfig):
        raise RecordUnavailable("--namespace and --kubeconfig read a cluster: add --cluster")
    source = (
        ClusterSource(args.namespace, args.kubeconfig)
        if args.cluster
        else LocalSource(args.state_dir)
    )
    if not is_loopback(args.host):
        print(
            f"WARNING: listening on {args.host}: anyone who can reach this address can read "
            "every study here (the dashboard has no login). Use --host 127.0.0.1 unless a "
            "network policy or proxy guards it.",
            file=sys.stderr,
        )
    try:
        server = make_server(source, args.host, args.port)
    except OSError as error:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({error.strerror}); "
            "pass another --port",
            file=sys.stderr,
        )
        return 1
    host, port = server.server_address[:2]
    print(
        f"kubetune dashboard: http://{_url_host(str(host))}:{port}/ (Ctrl-C stops it)", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


EXIT_LOSSY = 3
"""``kubetune convert``: the study was written, but something was approximated or dropped."""


def _convert(args: argparse.Namespace) -> int:
    document = _one_document(args.experiment)
    trial_spec = _one_document(args.trial_spec) if args.trial_spec else None
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


def _warm_start_config_map(args: argparse.Namespace) -> int:
    key = args.key or args.results.name
    try:
        text = args.results.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: cannot read {args.results}: {error}", file=sys.stderr)
        return 1
    try:
        manifest = warmstart.results_config_map(text, args.name, key, args.namespace)
        if args.study is not None:
            fmt = warmstart.results_format(key)
            found = warmstart.read_results(text, fmt, load_study(args.study).spec)
            print(
                f"{args.results}: {len(found)} completed trial(s) for {args.study}", file=sys.stderr
            )
    except warmstart.InvalidResults as error:
        print(f"error: {args.results}: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.dump(manifest, Dumper=_BlockDumper, sort_keys=False))
    print(f"then set spec.warmStart.configMap: {{name: {args.name}, key: {key}}}", file=sys.stderr)
    return 0


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line text as a literal block (``|``): a results file stays readable."""


def _text_block(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _text_block)


def _one_document(path: Path) -> Any:
    documents = read_documents(path)
    return documents[0] if len(documents) == 1 else documents


def _importance(args: argparse.Namespace) -> int:
    record = _read_record(args)
    planner = Planner(record.spec, record.name)
    trials = [TrialSnapshot(t.index, t.params, t.phase, t.values) for t in record.trials]
    method = ImportanceMethod(args.method)
    results = parameter_importance(planner.space, planner.history(trials), method, planner.seed)
    phases = Counter(t.phase.value for t in trials)
    counts = ", ".join(f"{n} {phase.lower()}" for phase, n in sorted(phases.items())) or "none"
    if args.format == "json":
        print(json.dumps(_importance_json(record.name, method, results), indent=2))
    else:
        out = console()
        out.print(f"{record.name}: {len(trials)} trials ({counts}); method {method.value}")
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
    """File name → YAML of the CRDs, with every registered algorithm's and rule's settings
    and the capability rules derived from their declarations."""
    documents = crd.crds(
        {name: a.Settings for name, a in algorithms.ALGORITHMS.items()},
        {name: r.Settings for name, r in stopping.RULES.items()},
        {name: a.capabilities for name, a in algorithms.REGISTRY.items()},
        {name: r.capabilities for name, r in stopping.REGISTRY.items()},
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
