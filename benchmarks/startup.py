"""Start-up time of every console command: `--help` (and `tagger fit --help`), and of the argument errors that
fit and baseline refuse from their kept help (a mistyped value), median of --runs fresh processes each, wall and
CPU seconds (what a user waits for before anything happens; CPU time is what a busy machine does not inflate).

    python benchmarks/startup.py [--runs 5] [--src TREE/src ...]

With several --src, each source tree (e.g. a main checkout's and a branch's) gets its column, side by side.
Last line: startup <command>=<median wall s> ... for the first tree.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {  # the console script: what it runs, and its exit status (2: argparse's for an argument error)
    "tagger": (["tagger.cli", "--help"], 0),
    "tagger fit": (["tagger.cli", "fit", "--help"], 0),
    "tagger fit-error": (["tagger.cli", "fit", "--trainer.max_epochs", "abc"], 2),
    "tagger-baseline": (["tagger.baseline", "--help"], 0),
    "tagger-baseline-error": (["tagger.baseline", "--C", "abc"], 2),
    "tagger-tune": (["tagger.tune", "--help"], 0),
    "tagger-predict": (["tagger.predict", "--help"], 0),
    "tagger-evaluate": (["tagger.evaluate", "--help"], 0),
}


def seconds(args: list[str], code: int, src: str | None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one `python -m` process."""
    env = os.environ | ({"PYTHONPATH": src} if src else {})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, env=env)
    if done.returncode != code:
        raise SystemExit(f"{' '.join(args)}: exit status {done.returncode}: {done.stderr.decode()[-500:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--src", action="append", help="a source tree to time (repeatable); default: as installed")
    args = parser.parse_args()
    trees = args.src or [None]
    medians = {}
    for name, (command, code) in COMMANDS.items():
        for tree in trees:
            runs = [seconds(command, code, tree) for _ in range(args.runs)]
            medians[name, tree] = tuple(statistics.median(r[i] for r in runs) for i in (0, 1))
    print(f"# median of {args.runs} runs, seconds (wall / CPU)")
    print(f"{'command':<22}" + "".join(f"  {tree or 'installed':>28}" for tree in trees))
    for name in COMMANDS:
        cells = (f"{medians[name, t][0]:.2f} / {medians[name, t][1]:.2f}" for t in trees)
        print(f"{name:<22}" + "".join(f"  {cell:>28}" for cell in cells))
    print("startup " + " ".join(f"{name.replace(' ', '-')}={medians[name, trees[0]][0]:.2f}" for name in COMMANDS))


if __name__ == "__main__":
    main()
