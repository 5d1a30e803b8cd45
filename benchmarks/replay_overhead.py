"""Per-node overhead of re-running a graph: eager re-evaluation versus frozen replay.

Builds a chain of elementwise nodes on a tiny array (so the numpy kernels cost almost
nothing and the runtime's own overhead dominates), alternating ``+ 0.5`` and
``* 0.999``, and times, as the median of many repeats:

* numpy: the same ufunc calls written by hand into preallocated arrays (the floor);
* frozen: ``@compute_graph`` replay, i.e. call the compiled function with a new
  array, then realize the output;
* eager: an open graph whose input was written, then the output realized again.

Run with ``uv run python benchmarks/replay_overhead.py`` (``--json`` for machine
output, ``--check`` to exit 1 when the frozen replay misses the target).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph
from mg_tensor import Tensor, compute_graph

TARGET_US_PER_NODE = 5.0
ADD, MUL = 0.5, 0.999


def chain(x: Tensor, nodes: int) -> Tensor:
    """``nodes`` elementwise ops: + ADD and * MUL, alternating."""
    for i in range(nodes):
        x = x + ADD if i % 2 == 0 else x * MUL
    return x


def reference(x: NDArray[Any], nodes: int) -> NDArray[Any]:
    value = x.copy()
    for i in range(nodes):
        value = value + value.dtype.type(ADD) if i % 2 == 0 else value * value.dtype.type(MUL)
    return value


def median_seconds(run: Callable[[int], None], repeats: int, warmup: int) -> float:
    for i in range(warmup):
        run(i)
    gc.collect()
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_numpy(inputs: list[NDArray[Any]], nodes: int, repeats: int) -> float:
    shape, dtype = inputs[0].shape, inputs[0].dtype
    add, mul = np.full(shape, ADD, dtype), np.full(shape, MUL, dtype)
    buffer = np.empty(shape, dtype)
    ufuncs = [(np.add, add) if i % 2 == 0 else (np.multiply, mul) for i in range(nodes)]

    def run(i: int) -> None:
        np.copyto(buffer, inputs[i % len(inputs)])
        for ufunc, constant in ufuncs:
            ufunc(buffer, constant, out=buffer)

    return median_seconds(run, repeats, warmup=3)


def bench_frozen(inputs: list[NDArray[Any]], nodes: int, repeats: int) -> tuple[float, Graph]:
    compiled = compute_graph(lambda x: chain(x, nodes))
    for array in inputs[:2]:  # trace, then check the replay against numpy
        np.testing.assert_allclose(compiled(array).data, reference(array, nodes), rtol=1e-5)

    def run(i: int) -> None:
        compiled(inputs[i % len(inputs)]).realize()

    seconds = median_seconds(run, repeats, warmup=5)
    return seconds, compiled.graph


def bench_eager(inputs: list[NDArray[Any]], nodes: int, repeats: int) -> float:
    graph = Graph("eager")
    x = Tensor.input(inputs[0], graph=graph, name="x")
    y = chain(x, nodes)
    np.testing.assert_allclose(y.data, reference(inputs[0], nodes), rtol=1e-5)

    def run(i: int) -> None:
        x.assign(inputs[i % len(inputs)])
        y.realize()

    seconds = median_seconds(run, repeats, warmup=3)
    x.assign(inputs[1])
    np.testing.assert_allclose(y.realize().data, reference(inputs[1], nodes), rtol=1e-5)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000, help="chain length (default 1000)")
    parser.add_argument("--size", type=int, default=4, help="elements per array (default 4)")
    parser.add_argument("--repeats", type=int, default=300, help="timed runs per mode")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if frozen > {TARGET_US_PER_NODE} µs/node"
    )
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=args.size).astype(np.float32) for _ in range(8)]
    numpy_s = bench_numpy(inputs, args.nodes, args.repeats)
    frozen_s, graph = bench_frozen(inputs, args.nodes, args.repeats)
    eager_s = bench_eager(inputs, args.nodes, max(args.repeats // 5, 20))
    stats = graph.stats()

    def per_node(seconds: float) -> float:
        return float(seconds * 1e6 / args.nodes)

    results: dict[str, Any] = {
        "nodes": args.nodes,
        "shape": [args.size],
        "dtype": "float32",
        "frozen_steps": stats["steps"],
        "frozen_graph_nodes": stats["nodes"],
        "modes": {
            "numpy": {"total_us": numpy_s * 1e6, "us_per_node": per_node(numpy_s)},
            "frozen": {"total_us": frozen_s * 1e6, "us_per_node": per_node(frozen_s)},
            "eager": {"total_us": eager_s * 1e6, "us_per_node": per_node(eager_s)},
        },
        "frozen_overhead_us_per_node": per_node(frozen_s - numpy_s),
        "target_us_per_node": TARGET_US_PER_NODE,
        "frozen_meets_target": per_node(frozen_s) < TARGET_US_PER_NODE,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"replay overhead: {args.nodes}-node elementwise chain, shape ({args.size},) "
            f"float32, median of {args.repeats} runs ({stats['steps']} frozen steps)"
        )
        print(f"{'mode':<34} {'total µs':>10} {'µs/node':>9}")
        labels = {
            "numpy": "numpy ufuncs into buffers (floor)",
            "frozen": "frozen replay (@compute_graph)",
            "eager": "eager re-evaluation (open graph)",
        }
        for mode, label in labels.items():
            row = results["modes"][mode]
            print(f"{label:<34} {row['total_us']:>10.1f} {row['us_per_node']:>9.3f}")
        verdict = "meets" if results["frozen_meets_target"] else "MISSES"
        print(
            f"frozen replay {verdict} the target of {TARGET_US_PER_NODE:g} µs/node "
            f"(runtime overhead over numpy: {results['frozen_overhead_us_per_node']:.3f} µs/node)"
        )
    return 1 if args.check and not results["frozen_meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
