"""Write the lhotse manifests of this folder with the real lhotse (1.33.0), next to four short
wav files; run it from anywhere with a Python that has lhotse and soundfile (not the project's
venv, which does not depend on lhotse):

    /tmp/lhv/bin/python tests/data/lhotse_fixtures/make_fixtures.py

It works inside this folder and names the wav files by relative paths, so the manifests hold
``"source": "rec-a.wav"``: lhotse (and simvq-audio) resolve such a path against the current
directory, and the tests run from this folder.
"""

import os
from pathlib import Path

import lhotse
import numpy as np
import soundfile
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

RATE = 16000
FILES = {  # recording id: (seconds, channels); 'rec-B' sorts before 'rec-a' in byte order
    "rec-a": (0.1, 1),
    "rec-B": (0.15, 1),
    "rec-c": (0.1, 2),
    "rec-d": (0.05, 1),
}


def sine(seconds: float, channels: int) -> np.ndarray:
    """``[T, channels]`` of a 440 Hz sine at 0.1 amplitude (one frequency per channel)."""
    time = np.arange(round(seconds * RATE)) / RATE
    return np.stack([0.1 * np.sin(2 * np.pi * 440 * (1 + c) * time) for c in range(channels)], 1)


def main() -> None:
    assert lhotse.__version__.startswith("1.33."), lhotse.__version__
    os.chdir(Path(__file__).parent)
    for name, (seconds, channels) in FILES.items():
        soundfile.write(f"{name}.wav", sine(seconds, channels), RATE, subtype="PCM_16")
    recordings = RecordingSet.from_recordings(
        Recording.from_file(f"{name}.wav") for name in FILES)
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment("rec-a-s", "rec-a", 0.0, 0.1, channel=0, text="hello world",
                           speaker="spk1", language="en"),
        # two supervisions of one recording, the later one first: joined in time order
        SupervisionSegment("rec-B-s2", "rec-B", 0.1, 0.05, channel=0, text="morning",
                           speaker="spk1", language="en"),
        SupervisionSegment("rec-B-s1", "rec-B", 0.0, 0.1, channel=0, text="good",
                           speaker="spk1", language="en"),
        # one speaker per channel: no common speaker, one common language
        SupervisionSegment("rec-c-left", "rec-c", 0.0, 0.1, channel=0, text="left",
                           speaker="spk2", language="fr"),
        SupervisionSegment("rec-c-right", "rec-c", 0.0, 0.1, channel=1, text="right",
                           speaker="spk3", language="fr"),
        # rec-d has no supervision
    ])
    recordings.to_file("recordings.jsonl.gz")
    supervisions.to_file("supervisions.jsonl.gz")
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts.to_file("cuts.jsonl.gz")
    # manifests that tokenize refuses, each after one good cut (so the bad one is on line 2)
    first = cuts[0]
    stereo = next(cut for cut in cuts if cut.recording_id == "rec-c")
    refused = {
        "segment": first.truncate(duration=0.05).with_id("rec-a-first-50ms"),
        "mixed": first.pad(duration=0.2).with_id("rec-a-padded"),
        "channel": stereo.to_mono(mono_downmix=False)[0].with_id("rec-c-left-channel"),
        "perturbed": first.perturb_speed(1.1),
    }
    for name, cut in refused.items():
        CutSet.from_cuts([cuts[1], cut]).to_file(f"{name}.jsonl.gz")


if __name__ == "__main__":
    main()
