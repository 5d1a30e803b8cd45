"""How long graphviz's ``dot`` takes to lay out training graphs as they grow.

Builds the training graph (forward, loss, backward) of MLPs of growing depth, as
`mnist --graph` draws them, and times ``dot -Tsvg`` on `visualize`'s DOT text: as is
(past `mg_graph.visualize.SLOW_NODES` nodes it caps dot's effort with ``nslimit``),
without that cap, and collapsed (``depth=1``). SLOW_NODES comes from this.

    uv run python packages/mg-graph/benchmarks/dot_layout.py --layers 8 32 64 128 256
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import time
import warnings

import numpy as np

from macrograd import Tensor
from macrograd.engine import Graph, compute_graph
from macrograd.nn import Linear, Model, manual_seed


class Deep(Model):
    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = [Linear(8, 8) for _ in range(layers)]

    def __call__(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x).relu()
        return x


def training_graph(layers: int) -> Graph:
    manual_seed(0)
    model = Deep(layers)

    @compute_graph
    def forward(x: Tensor, y: Tensor) -> Tensor:
        return ((model(x) - y) ** 2).mean()

    loss = forward(np.ones((4, 8), np.float32), np.zeros((4, 8), np.float32))
    loss.backprop()
    return forward.graph


def seconds(source: str, timeout: float) -> tuple[float, float] | None:
    """(wall, CPU) seconds of ``dot -Tsvg``; None past ``timeout``. The machine is
    shared, so the CPU time is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        subprocess.run(
            ["dot", "-Tsvg", "-o", "/dev/null"],
            input=source.encode(),
            check=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _text(times: tuple[float, float] | None) -> str:
    return "timeout" if times is None else f"{times[0]:6.2f} s ({times[1]:5.2f} s CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[8, 32, 64, 128, 256, 400])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for layers in args.layers:
        graph = training_graph(layers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            full = graph.visualize().source
            python_s = time.perf_counter() - start
            collapsed = graph.visualize(depth=1).source
        capped = "nslimit" in full  # visualize caps dot's effort past SLOW_NODES
        row = {
            "layers": layers,
            "nodes": len(graph),
            "visualize_s": python_s,
            "dot_uncapped": seconds(re.sub(r" nslimit=\S+", "", full), args.timeout),
            "dot_capped": seconds(full, args.timeout) if capped else None,
            "dot_depth1": seconds(collapsed, args.timeout),
        }
        rows.append(row)
        if not args.json:
            print(
                f"{layers:4d} layers {len(graph):6,d} nodes: visualize() {python_s:5.2f} s, "
                f"dot {_text(row['dot_uncapped'])}"  # type: ignore[arg-type]
                + (f", capped {_text(row['dot_capped'])}" if capped else "")  # type: ignore[arg-type]
                + f", depth=1 {_text(row['dot_depth1'])}",  # type: ignore[arg-type]
                flush=True,
            )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
