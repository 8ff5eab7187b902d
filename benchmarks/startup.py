"""Start-up time of the command lines: `--help` of tagger.tune, tagger.predict and tagger.evaluate, median of
5 runs each, in fresh processes (what a user waits for before anything happens).

    python benchmarks/startup.py [--runs 5]

To compare two trees, run it once per tree with PYTHONPATH=<tree>/src.
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = ["tagger.tune", "tagger.predict", "tagger.evaluate"]


def seconds(module: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", module, "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    medians = {module: statistics.median(seconds(module) for _ in range(args.runs)) for module in COMMANDS}
    for module, median in medians.items():
        print(f"{module:<16} --help  median {median:.2f} s over {args.runs} runs")
    print("startup " + " ".join(f"{module.split('.')[1]}={median:.2f}" for module, median in medians.items()))


if __name__ == "__main__":
    main()
