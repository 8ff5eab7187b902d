"""`python -m tagger.cli fit|validate|test --config configs/cnn.yaml` (the console script `tagger`).

The entry point only: --help, --version and a missing or unknown subcommand are answered before Lightning is
imported (tagger.commandline); the LightningCLI wiring (TaggerCLI, cli_main, build) is tagger.fit_cli.
"""

import sys

from tagger.commandline import KeptAnswers, called_as
from tagger.errors import reported

KEPT = KeptAnswers("tagger.cli", ("tagger", "python -m tagger.cli"), ("fit", "validate", "test"))


def run(argv: list[str], program: str) -> None:
    """The real command line: LightningCLI's parser, then the subcommand."""
    from tagger.fit_cli import cli_main  # Lightning, torch

    with reported():
        cli_main(argv, parser_kwargs={"prog": program})


def main() -> None:
    program = called_as("tagger.cli")
    KEPT.answer(sys.argv[1:], program)
    run(sys.argv[1:], program)


if __name__ == "__main__":
    main()
