"""`mnist`: train on MNIST (default) or evaluate saved weights (`mnist eval`).

uv run mnist
uv run mnist --model cnn --optimizer adam --lr 0.001 --epochs 3
uv run mnist eval --weights weights.safetensors
uv run mnist --export model.onnx && uv run mnist eval --weights model.onnx

Under ``mpiexec -n N`` the N processes train together (``--batch-size`` is the global
batch); only rank 0 shows progress, prints and writes files.

Exit status: 0 ok, 2 a mistake in the command line or its inputs (one line, no
traceback), 3 training diverged, 4 an output could not be written, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import macrograd as mg
from macrograd import distributed as dist
from macrograd.checkpoint import CheckpointError
from macrograd.data import DatasetError
from macrograd.nn import Model
from macrograd.onnx import export
from mnist_app import options, ranks
from mnist_app.data import Arrays, load
from mnist_app.models import build
from mnist_app.outputs import UsageError, Writer, add_options, expand, preflight
from mnist_app.train import (
    Config,
    Run,
    Summary,
    evaluate,
    local_batch_size,
    resume,
    save_run,
    saved_config,
    train,
)
from mnist_app.weights import load_onnx, load_weights, weights_bytes

DEFAULTS = Config()
ADAM_LR = 0.001  # Adam's usual step size: SGD's 0.1 would diverge
OK, USAGE, DIVERGED, OUTPUT_FAILED, INTERRUPTED = 0, 2, 3, 4, 130

#: Options that define a run (their defaults are None so that we know which were given).
RUN_OPTIONS = ("batch_size", "lr", "momentum", "schedule", "optimizer", "model", "seed", "subset")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="folder with the four MNIST files (default: $MACROGRAD_DATA, then the copy "
        "shipped with the app, then ~/.cache/macrograd/mnist, downloading if missing)",
    )
    parser.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        default=None,
        help=f"mlp: the README's 784-1024-1024-1024-10; cnn: a small CNN "
        f"(default: {DEFAULTS.model})",
    )
    parser.add_argument(
        "--subset",
        type=options.positive_int,
        metavar="N",
        help="use only the first N training and N test images (quick trials)",
    )
    parser.add_argument("--threads", type=options.threads, help="threads (default: all cores)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one strict JSON object on the last line",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="mnist",
        description="Train the original Macrograd README's MLP (or a small CNN) on MNIST "
        "and report test accuracy. `mnist eval --weights FILE` evaluates saved weights.",
        epilog="Exit status: 0 ok, 2 a mistake in the command line or its inputs, "
        "3 training diverged (--plot and --json are still written, --save and --export are "
        "not), "
        "4 an output could not be written (the others still are), 130 interrupted.",
    )
    _common(parser)
    parser.add_argument(
        "--epochs",
        type=options.positive_int,
        help=f"epochs in all, a resumed run's included (default: {DEFAULTS.epochs})",
    )
    parser.add_argument(
        "--batch-size", type=options.positive_int, help=f"(default: {DEFAULTS.batch_size})"
    )
    parser.add_argument(
        "--lr",
        type=options.positive_float,
        help="initial learning rate, decaying linearly to 0 over the run "
        f"(default: {DEFAULTS.lr} for sgd, {ADAM_LR} for adam)",
    )
    parser.add_argument(
        "--momentum",
        type=options.momentum,
        help=f"SGD momentum, in [0, 1) (default: {DEFAULTS.momentum})",
    )
    parser.add_argument(
        "--schedule",
        choices=["linear", "constant"],
        help=f"learning-rate schedule over the whole run (default: {DEFAULTS.schedule})",
    )
    parser.add_argument(
        "--optimizer", choices=["sgd", "adam"], help=f"(default: {DEFAULTS.optimizer})"
    )
    parser.add_argument(
        "--seed",
        type=options.non_negative_int,
        help=f"seeds initial weights and batch order (default: {DEFAULTS.seed})",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run checkpointed in DIR by --checkpoint (its options are the "
        "run's; --epochs may extend a constant-schedule run)",
    )
    add_options(parser)
    parser.add_argument(
        "--graph-depth",
        metavar="N",
        type=_depth,
        help="with --graph: one box per scope N levels below the model (1: per layer)",
    )
    return parser


def eval_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="mnist eval", description="Evaluate saved weights on the test set."
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        required=True,
        help="a .safetensors file written by `mnist --save` (weights of another dtype than "
        "the model's, float32, or with nan/inf values are refused, not cast), or an .onnx "
        "file written by `mnist --export`",
    )
    _common(parser)
    return parser


@contextlib.contextmanager
def use_threads(threads: int | None, model: str | None) -> Iterator[None]:
    """``threads`` threads (default: all cores) for Macrograd's batch kernels and BLAS.

    The CNN's GEMMs all run inside batch kernels (convolutions split their images over
    the threads, each GEMM on one): BLAS stays on one thread, whose idle threads would
    otherwise spin after each small threaded GEMM and take the cores from the kernels.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    before = mg.get_num_threads()
    count = threads or before
    mg.set_num_threads(count)
    try:
        with threadpool_limits(limits=1 if model == "cnn" else count):
            yield
    finally:
        mg.set_num_threads(before)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mnist` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["eval"]:
            return run_eval(eval_parser().parse_args(args_list[1:]))
        return run_train(train_parser().parse_args(args_list))
    except (UsageError, DatasetError, CheckpointError) as error:
        return ranks.fail(str(error), USAGE)
    except KeyboardInterrupt:
        return options.fail("interrupted", INTERRUPTED)


def config_of(args: argparse.Namespace) -> Config:
    """The run's configuration: the options given, else the defaults."""
    given = {name: getattr(args, name) for name in RUN_OPTIONS if getattr(args, name) is not None}
    if "lr" not in given:
        given["lr"] = ADAM_LR if given.get("optimizer") == "adam" else DEFAULTS.lr
    epochs = args.epochs if args.epochs is not None else DEFAULTS.epochs
    return Config(**given, epochs=epochs, progress=not args.no_progress)


def check_resume(args: argparse.Namespace) -> Config:
    """The configuration of the run to resume; an option that contradicts it is an error."""
    if args.save_initial:
        raise UsageError("--save-initial: a resumed run has no initial weights to write")
    args.resume = expand(args.resume)
    saved = saved_config(args.resume)
    for name in RUN_OPTIONS:
        value = getattr(args, name)
        if value is not None and value != getattr(saved, name):
            raise UsageError(
                f"--{name.replace('_', '-')} {value} differs from the resumed run's "
                f"{getattr(saved, name)}: leave it out to continue that run"
            )
    return saved


def check_world(config: Config) -> Config:
    """``config``, whose global batch must split evenly over the processes (mpiexec -n N)."""
    try:
        local_batch_size(config)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return config


def _depth(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number 0 or more, not {text!r}")
    return int(text)


def set_up(args: argparse.Namespace, lead: bool) -> tuple[Config, Arrays]:
    """Check the command line (the outputs on the ``lead`` rank, which alone writes
    them) and load the data."""
    if args.graph_depth is not None and not args.graph:
        raise UsageError("--graph-depth needs --graph FILE (where to draw)")
    if lead:
        preflight(args)
    config = check_world(check_resume(args) if args.resume else config_of(args))
    arrays = load(args.data_dir, progress=not args.no_progress and lead, subset=config.subset)
    return config, arrays


def run_train(args: argparse.Namespace) -> int:
    ranks.expect()  # under mpiexec, a mistake on one rank ends them all (mnist_app.ranks)
    lead = dist.rank() == 0  # under mpiexec only rank 0 shows progress and writes files
    config, arrays = set_up(args, lead)
    if ranks.others_failed():
        return USAGE
    writer = Writer()

    def draw(forward: Any) -> None:
        if args.graph and lead:
            writer.write("--graph", args.graph, lambda out: out.write(graph_bytes(forward)))

    def graph_bytes(forward: Any) -> bytes:
        digraph = forward.graph.visualize(depth=args.graph_depth)
        if args.graph.lower().endswith(".dot"):
            return str(digraph.source).encode()
        return bytes(digraph.pipe(format=os.path.splitext(args.graph)[1][1:].lower()))

    def save_initial(model: Model) -> None:
        if args.save_initial and lead:
            writer.write(
                "--save-initial", args.save_initial, lambda out: out.write(weights_bytes(model))
            )

    def checkpoint(run: Run) -> None:  # every rank holds the same run: rank 0 saves it
        if args.checkpoint and lead:
            writer.attempt("--checkpoint", args.checkpoint, lambda: save_run(run, args.checkpoint))

    # a diverging run overflows: reported once below, not as numpy warnings
    with use_threads(args.threads, config.model), np.errstate(over="ignore", invalid="ignore"):
        run = (
            resume(args.resume, arrays, args.epochs, progress=not args.no_progress)
            if args.resume
            else None
        )
        model, summary = train(config, arrays, draw, save_initial, run=run, on_epoch_end=checkpoint)
    return finish(args, writer, model, summary, arrays.x_test[: config.batch_size])


def write_model(args: argparse.Namespace, writer: Writer, model: Model, example: Any) -> None:
    """Write --save (safetensors) and --export (ONNX, traced on ``example``, a test batch)."""
    if args.save:
        writer.write("--save", args.save, lambda out: out.write(weights_bytes(model)))
    if args.export:
        writer.write(
            "--export",
            args.export,
            lambda out: out.write(export(model, example).SerializeToString()),
        )


def finish(
    args: argparse.Namespace, writer: Writer, model: Model, summary: Summary, example: Any
) -> int:
    """Write the final outputs (not --save nor --export after a divergence), report, pick
    the status. Under mpiexec rank 0 does; the other ranks, which diverge alike, only
    return."""
    step = summary.diverged_at_step
    if dist.rank() > 0:
        return OK if step is None else DIVERGED
    if step is not None:
        options.fail(
            f"training diverged: the loss is {summary.losses[-1]} at step {step}; "
            f"try a lower --lr (this run used {summary.config['lr']})"
        )
    else:
        write_model(args, writer, model, example)
    if args.plot:
        from mnist_app.plot import plot_curves

        writer.attempt(
            "--plot", args.plot, lambda: plot_curves(summary.losses, summary.accuracies, args.plot)
        )
    report(summary.as_json(), args.json)
    if step is not None:
        return DIVERGED
    return OUTPUT_FAILED if writer.failures else OK


def eval_model(args: argparse.Namespace) -> tuple[Model, str]:
    """The model to evaluate and its name: an .onnx file holds its own, a safetensors file
    goes into ``--model``."""
    if not args.weights.lower().endswith(".onnx"):
        name = args.model or DEFAULTS.model
        model = build(name)
        load_weights(model, args.weights)
        return model, name
    if args.model is not None:
        raise UsageError(
            f"--model {args.model}: an .onnx file holds its own model; leave --model out"
        )
    return load_onnx(args.weights), "onnx"


def run_eval(args: argparse.Namespace) -> int:
    """Score weights on the test set; under mpiexec each rank scores its share and
    rank 0 alone reports."""
    model, name = eval_model(args)
    lead = dist.rank() == 0
    arrays = load(args.data_dir, progress=not args.no_progress and lead, subset=args.subset)
    n, rank, size = len(arrays.x_test), dist.rank(), dist.world_size()
    share = slice(n * rank // size, n * (rank + 1) // size)
    hits = 0.0
    if share.stop > share.start:
        with use_threads(args.threads, name):
            part = evaluate(model, arrays.x_test[share], arrays.labels_test[share])
        hits = round(part * (share.stop - share.start))
    accuracy = dist.all_sum(hits) / n
    if lead:
        summary = {"test_accuracy": round(accuracy, 4), "weights": args.weights, "model": name}
        report(summary | ({"processes": size} if size > 1 else {}), args.json)
    return OK


def strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN).

    >>> strict({"a": [float("nan"), 1.0]})
    {'a': [None, 1.0]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def report(summary: dict[str, Any], as_json: bool) -> None:
    accuracy = summary["test_accuracy"]
    line = "test accuracy " + ("n/a" if accuracy is None else f"{accuracy:.2%}")
    if "epoch_seconds" in summary:
        loss = summary["train_loss"]
        line += (
            f" | epoch {summary['epoch_seconds']:.2f} s | "
            f"{summary['samples_per_second']:,.0f} samples/s | train loss "
            f"{'n/a' if loss is None or not math.isfinite(loss) else f'{loss:.4f}'} | "
            f"peak memory {summary['peak_memory_mb']:.0f} MB"
        )
        if summary.get("processes", 1) > 1:
            line += (
                f" | {summary['processes']} processes, "
                f"{summary['communication_seconds']:.2f} s waiting on communication"
            )
    print(line)
    if as_json:
        print(json.dumps(strict(summary), allow_nan=False))


if __name__ == "__main__":
    raise SystemExit(main())
