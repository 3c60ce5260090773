#!/usr/bin/env python3
"""Measures the landscape of bench/data/measured_compression.json.gz.

A measured space with categorical knobs, for hone_bench: compressing 8 MB of text
(the system's C++ headers and licences, as tar) to ship it over a 50 MB/s link.
Knobs: the compressor (gzip, bzip2, xz, zstd, lz4: categorical), its level (1..9)
and its threads (1, 2; only xz and zstd use them). The value to minimise is the
seconds to compress plus the seconds to send the result, each configuration
measured REPEATS times. Written in Kernel Tuner's cache format ("time" the mean,
"times" the repeats), so that hone_bench and optuna_driver.py replay it like the
GPU-kernel spaces.

  bench/data/measure_compression.py [--repeats N] [--out FILE]
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

LINK_BYTES_PER_S = 50e6
INPUT_BYTES = 8 << 20


def command(compressor, level, threads):
    if compressor == "gzip":
        return ["gzip", "-c", f"-{level}"]
    if compressor == "bzip2":
        return ["bzip2", "-c", f"-{level}"]
    if compressor == "xz":
        return ["xz", "-c", f"-{level}", f"-T{threads}"]
    if compressor == "zstd":
        return ["zstd", "-c", "-q", f"-{level}", f"-T{threads}"]
    return ["lz4", "-c", "-q", f"-{level}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "measured_compression.json.gz"))
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".tar") as data:
        tar = subprocess.run(["tar", "-cf", "-", "/usr/include/c++", "/usr/share/common-licenses"],
                             capture_output=True).stdout
        data.write(tar[:INPUT_BYTES])
        data.flush()
        params = {"compressor": ["gzip", "bzip2", "xz", "zstd", "lz4"],
                  "level": list(range(1, 10)), "threads": [1, 2]}
        cache = {}
        for compressor in params["compressor"]:
            for level in params["level"]:
                for threads in params["threads"]:
                    times = []
                    for _ in range(args.repeats):
                        with open(data.name, "rb") as f:
                            start = time.perf_counter()
                            out = subprocess.run(command(compressor, level, threads), stdin=f,
                                                 capture_output=True, check=True).stdout
                            seconds = time.perf_counter() - start
                        times.append(round(seconds + len(out) / LINK_BYTES_PER_S, 5))
                    key = ",".join(json.dumps(v) for v in (compressor, level, threads))
                    cache[key] = {"time": round(sum(times) / len(times), 5), "times": times}
                    print(key, cache[key], flush=True)
    with gzip.open(args.out, "wt") as f:
        json.dump({"tune_params_keys": list(params), "tune_params": params, "cache": cache,
                   "description": __doc__.split("\n")[2].strip()}, f)


if __name__ == "__main__":
    main()
