#!/usr/bin/python3
"""Optuna's TPE on hone_bench's problems, for the side-by-side figures.

Called by hone_bench (bench/search_bench.cc) with the same problems: the
reference-shaped surface with log-normal noise, and the Kernel Tuner caches
replayed with their repeated times. Every trial is one evaluation. Prints one
table row per sampler in hone_bench's format. Optuna recommends its best trial,
the best single noisy sample.

  optuna_driver.py --problem reference:0.03 | --problem kt:FILE  [--seeds N] [--budget N]
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


def reference(noise):
    params = {"inter_op": list(range(1, 29)), "intra_op": list(range(10, 57, 2))}

    def truth(c):
        a, b = c["inter_op"], c["intra_op"]
        threads = math.exp(-0.5 * (math.log(a / 2) / 0.7) ** 2)
        tile = math.exp(-0.5 * ((b - 28) / 14) ** 2)
        return 40 + 84 * threads * tile

    def sample(c, rng):
        return truth(c) * math.exp(rng.gauss(0, noise))

    return params, truth, sample, "max"


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

    return params, truth, sample, "min"


def run(params, truth, sample, goal, optimum, seed, budget, multivariate):
    rng = random.Random(seed * 7919 + 17)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=multivariate)
    study = optuna.create_study(direction="maximize" if goal == "max" else "minimize",
                                sampler=sampler)
    gap = (lambda v: (optimum - v) / abs(optimum)) if goal == "max" else (
        lambda v: (v - optimum) / abs(optimum))
    better = (lambda a, b: a > b) if goal == "max" else (lambda a, b: a < b)
    to_within = [budget + 1] * len(WITHIN)
    gaps = [math.nan] * len(CHECKPOINTS)
    best_measured = None
    for n in range(1, budget + 1):
        trial = study.ask()
        c = {k: trial.suggest_categorical(k, v) for k, v in params.items()}
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problem", required=True)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--optimum", type=float, required=True)
    args = parser.parse_args()
    kind, _, arg = args.problem.partition(":")
    params, truth, sample, goal = reference(float(arg)) if kind == "reference" else kernel_tuner(arg)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for name, multivariate in (("tpe", False), ("tpe-mv", True)):
        within = [[] for _ in WITHIN]
        gaps = [[] for _ in CHECKPOINTS]
        good = 0
        for seed in range(1, args.seeds + 1):
            w, g, ok = run(params, truth, sample, goal, args.optimum, seed, args.budget,
                           multivariate)
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
