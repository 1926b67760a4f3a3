"""Import the SimVQ authors' released checkpoints (github youngsheen/SimVQ, Hugging Face
``zyx123/SimVQ``) as model directories, reading their pickles without executing anything.

>>> from simvq_audio.reference import import_reference_checkpoint
>>> import_reference_checkpoint("epoch=49-step=138600.ckpt", "models/simvq_65k")

:mod:`~simvq_audio.reference.safe_pickle` reads the checkpoint, :mod:`~simvq_audio.reference.
convert` maps it onto our generator, :mod:`~simvq_audio.reference.hub` fetches
``REPO_ID:PATH`` references, :mod:`~simvq_audio.reference.importer` writes the directory.
"""

from simvq_audio.reference.importer import import_reference_checkpoint

__all__ = ["import_reference_checkpoint"]
