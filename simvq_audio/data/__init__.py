"""Data: audio I/O, Kaldi-style data directories, segment sampling."""
