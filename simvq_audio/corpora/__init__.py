"""Corpus preparation for the recipes in ``egs/``: download, Kaldi data directories, filtering.

Each module is also a command (``python -m simvq_audio.corpora.<module> --help``) that the
recipes' stages call; the library code never imports this package.
"""
