"""One module per ``simvq-audio`` subcommand; each defines ``NAME``, ``HELP``, ``add_arguments``
and ``run``. :mod:`simvq_audio.cli` lists them in ``COMMANDS``."""
