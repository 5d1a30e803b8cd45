"""`mnist`: train on MNIST (default) or evaluate saved weights (`mnist eval`).

uv run mnist --data-dir ../shared/mnist
uv run mnist --model cnn --optimizer adam --lr 0.001 --epochs 3
uv run mnist eval --weights weights.safetensors
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from macrograd.data import DatasetError
from mnist_app.data import load
from mnist_app.models import build
from mnist_app.train import Config, evaluate, train

DEFAULTS = Config()
ADAM_LR = 0.001  # Adam's usual step size: SGD's 0.1 would diverge


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="folder with the four MNIST files (default: $MACROGRAD_DATA, "
        "then ~/.cache/macrograd/mnist, downloading if missing)",
    )
    parser.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        default=DEFAULTS.model,
        help="mlp: the README's 784-1024-1024-1024-10; cnn: a small CNN",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: all cores)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on the last line"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist",
        description="Train the original Macrograd README's MLP (or a small CNN) on MNIST "
        "and report test accuracy. `mnist eval --weights FILE` evaluates saved weights.",
    )
    _common(parser)
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="initial learning rate, decaying linearly to 0 over the run "
        f"(default: {DEFAULTS.lr} for sgd, {ADAM_LR} for adam)",
    )
    parser.add_argument("--momentum", type=float, default=DEFAULTS.momentum, help="SGD momentum")
    parser.add_argument(
        "--schedule",
        choices=["linear", "constant"],
        default=DEFAULTS.schedule,
        help="learning-rate schedule over the whole run",
    )
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default=DEFAULTS.optimizer)
    parser.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help="seeds initial weights and batch order"
    )
    parser.add_argument("--save", metavar="FILE", help="write the weights (safetensors)")
    parser.add_argument(
        "--save-initial",
        metavar="FILE",
        help="write the initial weights (to start another framework from them)",
    )
    parser.add_argument(
        "--graph", metavar="FILE", help="draw the training graph (.svg, .png, .pdf or .dot)"
    )
    parser.add_argument(
        "--graph-depth",
        metavar="N",
        type=_depth,
        help="with --graph: one box per scope N levels below the model (1: per layer)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="draw loss/accuracy curves (needs matplotlib: uv run --with matplotlib mnist ...)",
    )
    return parser


def eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist eval", description="Evaluate saved weights on the test set."
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        required=True,
        help="a .safetensors file written by `mnist --save`",
    )
    _common(parser)
    return parser


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=threads):
        yield


def fail(message: str) -> int:
    print(f"mnist: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mnist` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["eval"]:
            return run_eval(eval_parser().parse_args(args_list[1:]))
        return run_train(train_parser().parse_args(args_list))
    except DatasetError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted")


def _depth(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number 0 or more, not {text!r}")
    return int(text)


def run_train(args: argparse.Namespace) -> int:
    if args.graph_depth is not None and not args.graph:
        return fail("--graph-depth needs --graph FILE (where to draw)")
    if args.plot:
        try:
            import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            return fail(
                "--plot needs matplotlib: run `uv run --with matplotlib mnist ...` "
                "(or `pip install matplotlib`)"
            )
    config = Config(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr if args.lr is not None else ADAM_LR if args.optimizer == "adam" else DEFAULTS.lr,
        momentum=args.momentum,
        schedule=args.schedule,
        optimizer=args.optimizer,
        model=args.model,
        seed=args.seed,
        progress=not args.no_progress,
    )
    arrays = load(args.data_dir, progress=not args.no_progress)

    def draw(forward: Any) -> None:
        if args.graph:
            forward.graph.visualize(args.graph, depth=args.graph_depth)

    with blas_threads(args.threads):
        model, summary = train(config, arrays, on_first_step=draw, initial=args.save_initial)
    if args.save:
        model.save(args.save)
    if args.plot:
        from mnist_app.plot import plot_curves

        plot_curves(summary.losses, summary.accuracies, args.plot)
    report(summary.as_json(), args.json)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if not os.path.exists(args.weights):
        return fail(f"no weights file {args.weights!r}: train with `mnist --save FILE` first")
    model = build(args.model)
    try:
        model.load(args.weights)
    except (ValueError, KeyError, OSError) as error:
        return fail(f"cannot load {args.weights!r} into the {args.model} model: {error}")
    arrays = load(args.data_dir, progress=not args.no_progress)
    with blas_threads(args.threads):
        accuracy = evaluate(model, arrays.x_test, arrays.labels_test)
    report(
        {"test_accuracy": round(accuracy, 4), "weights": args.weights, "model": args.model},
        args.json,
    )
    return 0


def report(summary: dict[str, Any], as_json: bool) -> None:
    if "epoch_seconds" in summary:
        print(
            f"test accuracy {summary['test_accuracy']:.2%} | epoch "
            f"{summary['epoch_seconds']:.2f} s | {summary['samples_per_second']:,.0f} "
            f"samples/s | train loss {summary['train_loss']:.4f} | peak memory "
            f"{summary['peak_memory_mb']:.0f} MB"
        )
    else:
        print(f"test accuracy {summary['test_accuracy']:.2%}")
    if as_json:
        print(json.dumps(summary))


if __name__ == "__main__":
    raise SystemExit(main())
