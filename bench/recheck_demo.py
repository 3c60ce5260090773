#!/usr/bin/env python3
"""recheck_demo: does the demo's reported improvement hold up when measured again?

Not a test: it prints figures (docs/statistics.md). Starts a private, unprivileged
honed (its own socket and state directory), then, JOBS times: runs the demo job
(examples/reference/demo.yaml with examples/reference/workload.sh) through
`hone --json run`, reads the reported improvement and its 95% interval, and measures
the reported best against the baseline again, alternately in time (A B A B ... A,
ROUNDS runs of the best and ROUNDS + 1 of the baseline, with the demo kernel
directly; 20 rounds by default, more than a job's final comparison takes, so that
the re-measurement's own noise is the smaller part of the difference). The re-measured improvement is the plain ratio of the two means, less
one, as a user would work it out. Prints one row per job and the share of
re-measured improvements inside the reported interval.

  bench/recheck_demo.py [--jobs N] [--rounds N] [--build DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kernel_throughput(kernel, config):
    out = subprocess.run(
        [kernel, "--threads", str(config["inter_op"]), "--block", str(config["intra_op"])],
        check=True, capture_output=True, text=True).stdout
    match = re.search(r"throughput: ([0-9.]+) GFLOP/s", out)
    if not match:
        sys.exit(f"recheck_demo: unexpected kernel output: {out!r}")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()
    hone = os.path.join(args.build, "bin", "hone")
    honed = os.path.join(args.build, "bin", "honed")
    kernel = os.path.join(args.build, "bin", "hone-demo-kernel")
    for path in (hone, honed, kernel):
        if not os.access(path, os.X_OK):
            sys.exit(f"recheck_demo: {path} is missing (run scripts/build first)")
    work = tempfile.mkdtemp(prefix="hone-recheck.")
    env = dict(os.environ, HONE_SOCKET=os.path.join(work, "honed.sock"),
               HONE_RESULT_FILE=os.path.join(work, "result.txt"),
               HONE_DEMO_KERNEL=kernel)
    config = os.path.join(work, "demo.yaml")
    with open(os.path.join(ROOT, "examples/reference/demo.yaml")) as f:
        # The metric reads the result file the workload writes: a private one.
        text = f.read().replace("cat /tmp/result.txt", "cat " + env["HONE_RESULT_FILE"])
    with open(config, "w") as f:
        f.write(text)
    log = open(os.path.join(work, "honed.log"), "w")
    daemon = subprocess.Popen([honed, "--socket", env["HONE_SOCKET"], "--state-dir",
                               os.path.join(work, "state")], stderr=log, env=env)
    try:
        deadline = time.time() + 30
        while subprocess.run([hone, "ping"], env=env, capture_output=True).returncode != 0:
            if time.time() > deadline or daemon.poll() is not None:
                sys.exit(f"recheck_demo: honed did not answer; see {work}/honed.log")
            time.sleep(0.1)
        print(f"recheck_demo: {args.jobs} demo jobs, each re-measured over {args.rounds} "
              "alternating rounds (A B A ... A); 'best' is inter_op, intra_op; the\n"
              "re-measured means of the baseline and the best in GFLOP/s")
        print(f"{'job':>4} {'best':>8} {'reported':>9} {'95% interval':>18} {'rounds':>6} "
              f"{'re-measured':>11} {'baseline':>8} {'best':>6}  inside")
        inside = 0
        for job in range(1, args.jobs + 1):
            run = subprocess.run(
                [hone, "--json", "run", config, "--",
                 os.path.join(ROOT, "examples/reference/workload.sh")],
                env=env, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"recheck_demo: job {job} failed: {run.stderr[-2000:]}")
            report = json.loads(run.stdout)
            best, base = report["best"]["config"], report["baseline"]["config"]
            pct = report["improvement_pct"]
            low, high = report.get("improvement_ci95_pct", [None, None])
            method = report.get("improvement_method", {})
            a, b = [], []
            for _ in range(args.rounds):
                a.append(kernel_throughput(kernel, base))
                b.append(kernel_throughput(kernel, best))
            a.append(kernel_throughput(kernel, base))
            again = (sum(b) / len(b)) / (sum(a) / len(a)) * 100 - 100
            ok = low is not None and low <= again <= high
            inside += ok
            print(f"{job:>4} {'%s, %s' % (best['inter_op'], best['intra_op']):>8} "
                  f"{pct:>+8.1f}% [{low:>+7.1f}%, {high:>+7.1f}%] "
                  f"{method.get('rounds', '-'):>6} {again:>+10.1f}% "
                  f"{sum(a) / len(a):>8.3f} {sum(b) / len(b):>6.3f}  {'yes' if ok else 'NO'}",
                  flush=True)
        print(f"inside the reported interval: {inside} of {args.jobs}")
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
