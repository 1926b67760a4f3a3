"""Pairing references with hypotheses by utterance id (the inputs are listed by
:func:`simvq_audio.data.utterances.list_utterances`)."""

from __future__ import annotations

from pathlib import Path

from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.errors import UserInputError


def pair_up(refs: list[Utterance], hyps: list[Utterance]) -> list[tuple[str, Path, Path]]:
    """``(utt_id, ref_path, hyp_path)`` sorted by id; both lists must hold the same ids."""
    ref_paths = {utt.utt_id: utt.path for utt in refs}
    hyp_paths = {utt.utt_id: utt.path for utt in hyps}
    require_same_ids(ref_paths.keys(), hyp_paths.keys(), "references", "hypotheses")
    return [(utt_id, ref_paths[utt_id], hyp_paths[utt_id]) for utt_id in sorted(ref_paths)]


def require_same_ids(left, right, left_name: str, right_name: str) -> None:
    """Raise :class:`UserInputError` naming a few ids that are in only one of the two sets."""
    only_left, only_right = sorted(set(left) - set(right)), sorted(set(right) - set(left))
    problems = [f"{len(ids)} id(s) only in the {name}: {', '.join(ids[:5])}"
                + (", ..." if len(ids) > 5 else "")
                for ids, name in ((only_left, left_name), (only_right, right_name)) if ids]
    if problems:
        raise UserInputError("utterance ids do not match; " + "; ".join(problems))
