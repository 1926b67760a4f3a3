"""Sub-modules reached by name but saved under fixed state-dict names.

Some parts of the codec were first saved from an ``nn.Sequential``, so model directories and
their hashes (:func:`~simvq_audio.model_dir.weights_sha256`) name their tensors by position,
e.g. ``block.2.weight``. A :class:`NamedParts` subclass keeps those state-dict names in one
table (:attr:`NamedParts.SAVED_AS`) while code reaches each part by what it is
(``block.conv1``): reordering or renaming a part in code then changes no saved name, and the
reference importer (:mod:`simvq_audio.reference.convert`) reads the same table.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn


class NamedParts(nn.Module):
    """A container of named parts; subclasses set :attr:`SAVED_AS`.

    ``SAVED_AS``: part name -> the name the part's tensors are saved under (its state-dict
    prefix inside this container). Each part is reached as ``container.<part name>``. The
    container has no ``forward``: its owner calls the parts in the order it needs. Parts are
    registered in the order given, which is the order of ``parameters()`` (an optimizer's
    state follows it).
    """

    SAVED_AS: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for part, saved in cls.SAVED_AS.items():
            setattr(cls, part, property(lambda self, saved=saved: self._modules[saved],
                                        doc=f"The part saved as {saved!r}."))

    def __init__(self, **parts: nn.Module):
        super().__init__()
        if parts.keys() != self.SAVED_AS.keys():
            raise ValueError(f"{type(self).__name__} takes the parts {sorted(self.SAVED_AS)}, "
                             f"got {sorted(parts)}")
        for part, module in parts.items():
            self.add_module(self.SAVED_AS[part], module)
