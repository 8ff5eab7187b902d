"""The help formatter of the parsers whose answers tagger.commandline keeps (apart, so that predict and evaluate,
which use the light module too, do not import jsonargparse)."""

from jsonargparse import DefaultHelpFormatter

from tagger.commandline import HELP_WIDTH


class HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help, in lines of HELP_WIDTH whatever the terminal."""

    def __init__(self, prog: str, **kwargs) -> None:
        super().__init__(prog, **{**kwargs, "width": HELP_WIDTH})
