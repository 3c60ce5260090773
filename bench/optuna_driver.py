#!/usr/bin/python3
"""Optuna's TPE on hone_bench's problems, for the side-by-side figures.

Called by hone_bench (bench/search_bench.cc) with the same problems: the
reference-shaped surface with log-normal noise, the Kernel Tuner caches replayed
with their repeated times, the classic test functions on integer grids and the
boolean surfaces with interactions (both with log-normal noise; their truths are
described at the top of search_bench.cc and computed here the same way, in the
same order of operations). Every trial is one evaluation. Prints one table row
per sampler in hone_bench's format. Optuna recommends its best trial, the best
single noisy sample.

Knobs are categorical, as in the reference and Kernel Tuner spaces, except the
classic functions' grid positions, which are integers (suggest_int 0..32) that
TPE treats as ordered, as hone does; the boolean knobs are [False, True].

Where the driver knows the optimum itself (reference, classic, boolean), it
checks hone_bench's --optimum against it and says so when they differ.

  optuna_driver.py --problem SPEC --optimum X [--seeds N] [--budget N]
  SPEC: reference:NOISE | ridge:NOISE | kt:FILE | classic:FUNCTION:KNOBS:NOISE |
        boolean:KNOBS:NOISE[:SCALE]
        e.g. reference:0.03, classic:rosenbrock:10:0.03, boolean:16:0.03
"""
import argparse
import gzip
import json
import math
import random
import statistics
import sys
import warnings

import optuna

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

WITHIN = [0.01, 0.02, 0.05]
CHECKPOINTS = [25, 50, 100, 200]


def categorical(params):
    """Suggests every knob as a categorical over its values."""
    return lambda trial: {k: trial.suggest_categorical(k, v) for k, v in params.items()}


def log_normal(truth, noise):
    return lambda c, rng: truth(c) * math.exp(rng.gauss(0, noise))


def reference(noise):
    params = {"inter_op": list(range(1, 29)), "intra_op": list(range(10, 57, 2))}

    def truth(c):
        a, b = c["inter_op"], c["intra_op"]
        threads = math.exp(-0.5 * (math.log(a / 2) / 0.7) ** 2)
        tile = math.exp(-0.5 * ((b - 28) / 14) ** 2)
        return 40 + 84 * threads * tile

    optimum = max(truth({"inter_op": a, "intra_op": b})
                  for a in params["inter_op"] for b in params["intra_op"])
    return categorical(params), truth, log_normal(truth, noise), "max", optimum


def ridge(noise):
    """The narrow ridge of search_bench.cc: x, y in 1..40."""
    params = {"x": list(range(1, 41)), "y": list(range(1, 41))}

    def truth(c):
        x, y = c["x"], c["y"]
        return 30 + 90 * math.exp(-0.5 * ((x - y) / 1.2) ** 2) * math.exp(
            -0.5 * ((x + y - 52) / 18) ** 2)

    optimum = max(truth({"x": x, "y": y}) for x in params["x"] for y in params["y"])
    return categorical(params), truth, log_normal(truth, noise), "max", optimum


def kernel_tuner(path):
    with gzip.open(path, "rt") as f:
        data = json.load(f)
    keys = data["tune_params_keys"]
    params = {k: data["tune_params"][k] for k in keys}
    table = {}
    for key, record in data["cache"].items():
        t = record.get("time")
        if isinstance(t, (int, float)):
            times = [x for x in record.get("times", []) if isinstance(x, (int, float))] or [t]
            table[key] = (t, times)

    def key_of(c):
        return ",".join(json.dumps(c[k]) for k in keys)

    def truth(c):
        hit = table.get(key_of(c))
        return hit[0] if hit else None

    def sample(c, rng):
        hit = table.get(key_of(c))
        return rng.choice(hit[1]) if hit else None

    return categorical(params), truth, sample, "min", None


GRID_POINTS = 33  # each classic knob: 0..32, x = lo + (hi - lo) * k / 32


def classic_functions():
    """name -> (lo, hi, s, f): f >= 0, 0 at the optimum on the grid."""
    two_pi = 2 * 3.141592653589793

    def rosenbrock(x):
        f = 0.0
        for i in range(len(x) - 1):
            f += (100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) +
                  (1 - x[i]) * (1 - x[i]))
        return f

    def rastrigin(x):
        f = 0.0
        for v in x:
            f += v * v + 10 - 10 * math.cos(two_pi * v)
        return f

    def styblinski_tang_1d(v):
        return v * v * v * v - 16 * v * v + 5 * v

    least = math.inf
    for k in range(GRID_POINTS):
        least = min(least, styblinski_tang_1d(-5 + 10.0 * k / (GRID_POINTS - 1)))

    def styblinski_tang(x):
        f = 0.0
        for v in x:
            f += (styblinski_tang_1d(v) - least) / 2
        return f

    return {"rosenbrock": (-2, 2, 50, rosenbrock),
            "rastrigin": (-5.12, 5.12, 10, rastrigin),
            "styblinski-tang": (-5, 5, 10, styblinski_tang)}


def classic(name, dims, noise):
    lo, hi, scale, f = classic_functions()[name]
    names = ["x%d" % d for d in range(dims)]

    def truth(c):
        x = [lo + (hi - lo) * c[n] / (GRID_POINTS - 1) for n in names]
        return 100 / (1 + f(x) / (scale * dims))

    def suggest(trial):
        return {n: trial.suggest_int(n, 0, GRID_POINTS - 1) for n in names}

    return suggest, truth, log_normal(truth, noise), "max", 100.0


class Lcg:
    """The boolean surfaces' generator, as in search_bench.cc."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def uniform(self):
        self.state = (self.state * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.state / 4294967296.0


def boolean_terms(n, scale=1.0):
    """[(knobs, weight)]: main effects, pairs, then triples, as in search_bench.cc
    (scale multiplies every weight: 0.25 for the small effects)."""
    lcg = Lcg(12345 + n)
    terms = [((i,), scale * 0.05 * (2 * lcg.uniform() - 1)) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if lcg.uniform() < 0.3:
                terms.append(((i, j), scale * 0.08 * (2 * lcg.uniform() - 1)))
    for _ in range(10):
        i = int(lcg.uniform() * n)
        j = int(lcg.uniform() * n)
        k = int(lcg.uniform() * n)
        if i == j or j == k or i == k:
            continue
        terms.append(((i, j, k), scale * 0.1 * (2 * lcg.uniform() - 1)))
    return terms


def boolean(n, noise, scale=1.0):
    terms = boolean_terms(n, scale)
    names = ["b%d" % i for i in range(n)]

    def value(on):  # on: the knobs' states in order
        s = 0.0
        for knobs, weight in terms:
            if all(on[k] for k in knobs):
                s += weight
        return 100 * math.exp(s)

    def truth(c):
        return value([c[name] for name in names])

    masks = [(sum(1 << k for k in knobs), weight) for knobs, weight in terms]
    best = 0.0
    for m in range(1 << n):
        s = 0.0
        for mask, weight in masks:
            if m & mask == mask:
                s += weight
        best = max(best, s)
    return (categorical({name: [False, True] for name in names}), truth,
            log_normal(truth, noise), "max", 100 * math.exp(best))


def run(suggest, truth, sample, goal, optimum, seed, budget, multivariate,
        constraints=()):
    """constraints: Python expressions over the knobs (the restrictions hone_bench
    passes are written in the part of hone's constraint syntax that Python shares).
    A suggestion that violates one is never run and does not count as an
    evaluation, as a user's objective that checks them first would do; TPE learns
    it as infeasible through its constraints_func, with the worst possible value."""
    rng = random.Random(seed * 7919 + 17)
    compiled = [compile(c, "<constraint>", "eval") for c in constraints]
    sampler = optuna.samplers.TPESampler(
        seed=seed, multivariate=multivariate,
        constraints_func=(lambda t: t.user_attrs["violation"]) if compiled else None)
    worst = 1e300 if goal == "min" else -1e300
    study = optuna.create_study(direction="maximize" if goal == "max" else "minimize",
                                sampler=sampler)
    gap = (lambda v: (optimum - v) / abs(optimum)) if goal == "max" else (
        lambda v: (v - optimum) / abs(optimum))
    better = (lambda a, b: a > b) if goal == "max" else (lambda a, b: a < b)
    to_within = [budget + 1] * len(WITHIN)
    gaps = [math.nan] * len(CHECKPOINTS)
    best_measured = None
    n = 0
    suggestions = 0
    while n < budget and suggestions < 100 * budget:
        suggestions += 1
        trial = study.ask()
        c = suggest(trial)
        feasible = all(_holds(e, c) for e in compiled)
        trial.set_user_attr("violation", (0.0,) if feasible else (1.0,))
        if not feasible:
            study.tell(trial, worst)
            continue
        n += 1
        measured = sample(c, rng)
        if measured is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, measured)
        t = truth(c)
        if t is not None:
            if best_measured is None or better(t, best_measured):
                best_measured = t
            for i, w in enumerate(WITHIN):
                if gap(t) <= w and to_within[i] > budget:
                    to_within[i] = n
        if n in CHECKPOINTS:
            try:
                gaps[CHECKPOINTS.index(n)] = gap(truth(study.best_trial.params))
            except ValueError:
                pass
    recommended_well = False
    try:
        rec = truth(study.best_trial.params)
        recommended_well = abs(rec - best_measured) <= 0.01 * abs(best_measured)
    except ValueError:
        pass
    return to_within, gaps, recommended_well


def _holds(expression, config):
    try:
        return bool(eval(expression, {"__builtins__": {}, "min": min, "max": max,
                                      "abs": abs}, dict(config)))
    except ZeroDivisionError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problem", required=True)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--optimum", type=float, required=True)
    parser.add_argument("--constraints", default="[]",
                        help="JSON list of constraint expressions (see run())")
    args = parser.parse_args()
    kind, _, arg = args.problem.partition(":")
    if kind == "reference":
        problem = reference(float(arg))
    elif kind == "kt":
        problem = kernel_tuner(arg)
    elif kind == "classic":
        name, dims, noise = arg.split(":")
        problem = classic(name, int(dims), float(noise))
    elif kind == "boolean":
        n, noise, *scale = arg.split(":")
        problem = boolean(int(n), float(noise), float(scale[0]) if scale else 1.0)
    elif kind == "ridge":
        problem = ridge(float(arg))
    else:
        parser.error("unknown problem " + args.problem)
    suggest, truth, sample, goal, optimum = problem
    if optimum is not None and abs(optimum - args.optimum) > 1e-6 * abs(optimum):
        print("  (optuna_driver: the optimum is %.10g here but %.10g in hone_bench: the "
              "truths differ)" % (optimum, args.optimum), flush=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for name, multivariate in (("tpe", False), ("tpe-mv", True)):
        within = [[] for _ in WITHIN]
        gaps = [[] for _ in CHECKPOINTS]
        good = 0
        for seed in range(1, args.seeds + 1):
            w, g, ok = run(suggest, truth, sample, goal, args.optimum, seed, args.budget,
                           multivariate, json.loads(args.constraints))
            for i, x in enumerate(w):
                within[i].append(x)
            for i, x in enumerate(g):
                if not math.isnan(x):
                    gaps[i].append(x)
            good += ok
        row = "  %-10s" % name
        for w in within:
            m = sorted(w)[len(w) // 2]
            row += " %8s" % (">%d" % args.budget if m > args.budget else m)
        row += "  "
        for g in gaps:
            row += " %8.2f%%" % (100 * sorted(g)[len(g) // 2] if g else math.nan)
        row += " %8.0f%%" % (100.0 * good / args.seeds)
        print(row, flush=True)


if __name__ == "__main__":
    sys.exit(main())
