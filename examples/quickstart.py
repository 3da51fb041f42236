"""The quickstart sweep: 12 CPU-only runs of a few seconds each.

    orchestra up examples/quickstart.py

Each run fits y = 3x - 1 with noisy SGD for 60 iterations, logs its loss, and snapshots every
10 iterations; a retried or resumed run continues from its newest snapshot.
"""

import math
import random
import time

from orchestra import Config, Grid, Sweep


def train(ctx, lr, batch_size, momentum):
    rng = random.Random(ctx.seed)
    start, state = ctx.resume() or (0, {"w": 0.0, "b": 0.0, "vw": 0.0, "vb": 0.0})
    for itr in range(start, 60):
        xs = [rng.uniform(-1, 1) for _ in range(batch_size)]
        ys = [3 * x - 1 + rng.gauss(0, 0.1) for x in xs]
        errs = [state["w"] * x + state["b"] - y for x, y in zip(xs, ys)]
        gw = 2 * sum(e * x for e, x in zip(errs, xs)) / batch_size
        gb = 2 * sum(errs) / batch_size
        state["vw"] = momentum * state["vw"] + gw
        state["vb"] = momentum * state["vb"] + gb
        state["w"] -= lr * state["vw"]
        state["b"] -= lr * state["vb"]
        loss = sum(e * e for e in errs) / batch_size
        ctx.logger("iteration", itr)
        ctx.logger("loss", loss)
        ctx.logger("log10_loss", math.log10(loss + 1e-12))
        ctx.logger.dump()
        ctx.snapshot(itr, state)
        time.sleep(0.05)
    return {"loss": loss, "w": state["w"], "b": state["b"]}


sweep = Sweep(
    train,
    Config({"lr": Grid([0.01, 0.03, 0.1]), "batch_size": Grid([8, 32]), "momentum": 0.5}),
    seeds=[0, 1],
    snapshot_mode="gap",
    snapshot_gap=10,
    max_retries=1,
    timeout="5m",
    objective="loss",
    mode="min",
)
