"""Segment datasets: crop length, padding, resampling, determinism, partial reads, errors."""

import numpy as np
import pytest
import soundfile
import torch

from simvq_audio.data.audio_io import read_audio
from simvq_audio.data.kaldi_dir import Utterance
from simvq_audio.data.loudness import normalize_rms
from simvq_audio.data.segments import SegmentDataset, ValidationDataset, collate_segments, read_crop
from simvq_audio.errors import UserInputError

RATE = 24000


def make_utterance(tmp_path, name, seconds, rate=RATE, channels=1, scale=0.1):
    rng = np.random.default_rng(abs(hash((name, rate, channels))) % 2**32)
    data = (rng.standard_normal((round(seconds * rate), channels)) * scale).astype(np.float32)
    path = tmp_path / f"{name}.wav"
    soundfile.write(str(path), data, rate, subtype="FLOAT")
    return Utterance(name, path, duration=seconds)


def test_crops_have_the_segment_length_and_short_utterances_are_padded(tmp_path):
    long = make_utterance(tmp_path, "long", 2.5)
    short = make_utterance(tmp_path, "short", 0.3)
    dataset = SegmentDataset([long, short], RATE, segment_seconds=1.0)
    crop = dataset[0]
    assert crop.wav.shape == (RATE,) and crop.length == RATE and crop.utt_id == "long"
    padded = dataset[1]
    assert padded.wav.shape == (RATE,) and padded.length == round(0.3 * RATE)
    assert padded.wav[padded.length:].abs().max() == 0
    original, _ = read_audio(short.path)
    assert torch.equal(padded.wav[: padded.length], original[0])


def test_short_utterances_can_be_tiled_by_repetition_as_in_the_reference(tmp_path):
    short = make_utterance(tmp_path, "short", 0.3)
    exact = make_utterance(tmp_path, "exact", 1.0)
    dataset = SegmentDataset([short, exact], RATE, segment_seconds=1.0, short_clips="tile")
    tiled = dataset[0]
    assert tiled.wav.shape == (RATE,) and tiled.length == RATE  # all of it is valid
    original = read_audio(short.path)[0][0]
    n = original.numel()
    for start in range(0, RATE, n):
        assert torch.equal(tiled.wav[start:start + n], original[:RATE - start])
    assert torch.equal(dataset[1].wav, read_audio(exact.path)[0][0])
    with pytest.raises(UserInputError, match="short_clips"):
        SegmentDataset([short], RATE, short_clips="loop")


def test_the_training_loader_follows_train_short_clips(tmp_path):
    from simvq_audio.codec.config import Config
    from simvq_audio.codec.train_data import training_loader
    short = make_utterance(tmp_path, "short", 0.3)
    config = Config()
    config.train.batch_size, config.train.num_workers = 1, 0
    for mode, length in (("tile", RATE), ("pad", round(0.3 * RATE))):
        config.train.short_clips = mode
        dataset, _, loader = training_loader([short], config, 1, 0, pin_memory=False)
        assert dataset.short_clips == mode
        assert next(iter(loader)).lengths.tolist() == [length]


def test_a_crop_is_the_matching_slice_of_the_whole_file(tmp_path):
    utterance = make_utterance(tmp_path, "u", 3.0)
    whole, _ = read_audio(utterance.path)
    crop = SegmentDataset([utterance], RATE, segment_seconds=0.5, seed=3)[0]
    starts = [s for s in range(whole.shape[-1] - crop.length + 1)
              if torch.equal(whole[0, s: s + 100], crop.wav[:100])]
    assert len(starts) == 1
    assert torch.equal(whole[0, starts[0]: starts[0] + crop.length], crop.wav)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_stereo_files_at_other_rates_become_24khz_mono_matching_whole_file_resampling(
        tmp_path, rate):
    utterance = make_utterance(tmp_path, "s", 1.7, rate=rate, channels=2)
    whole, _ = read_audio(utterance.path, RATE)  # soxr on the whole file, downmixed
    for start in (0, 777, whole.shape[-1] - RATE // 2):
        crop = read_crop(utterance, RATE, RATE // 2, lambda total, start=start: start)
        reference = whole[0, start: start + RATE // 2]
        assert crop.shape == reference.shape
        assert torch.allclose(crop, reference, atol=1e-5)


def test_crops_are_deterministic_per_seed_epoch_and_index(tmp_path):
    utterances = [make_utterance(tmp_path, f"u{i}", 3.0) for i in range(2)]

    def crop(seed, epoch, index):
        dataset = SegmentDataset(utterances, RATE, segment_seconds=0.2, seed=seed)
        dataset.set_epoch(epoch)
        return dataset[index].wav

    assert torch.equal(crop(0, 1, 0), crop(0, 1, 0))
    assert not torch.equal(crop(0, 1, 0), crop(0, 2, 0))
    assert not torch.equal(crop(0, 1, 0), crop(1, 1, 0))


def test_only_the_needed_part_of_a_long_file_is_read(tmp_path, monkeypatch):
    utterance = make_utterance(tmp_path, "long", 20.0, rate=16000)
    frames_read = []
    real_read = soundfile.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        frames_read.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", counting_read)
    SegmentDataset([utterance], RATE, segment_seconds=1.0)[0]
    assert len(frames_read) == 1 and 16000 <= frames_read[0] < 1.2 * 16000


def test_validation_crops_are_the_first_seconds_unpadded_and_collate_pads(tmp_path):
    utterances = [make_utterance(tmp_path, "a", 0.4), make_utterance(tmp_path, "b", 2.0)]
    dataset = ValidationDataset(utterances, RATE, max_seconds=1.0)
    first, second = dataset[0], dataset[1]
    assert first.wav.shape == (round(0.4 * RATE),) and second.wav.shape == (RATE,)
    assert torch.equal(second.wav, read_audio(utterances[1].path)[0][0, :RATE])
    assert torch.equal(dataset[1].wav, second.wav)
    batch = collate_segments([first, second])
    assert batch.wav.shape == (2, RATE)
    assert batch.lengths.tolist() == [round(0.4 * RATE), RATE]
    assert batch.wav[0, first.length:].abs().max() == 0
    assert batch.utt_ids == ("a", "b")
    assert ValidationDataset(utterances, RATE, max_seconds=None)[1].wav.shape == (2 * RATE,)
    assert dataset.durations == [0.4, 2.0]


def test_training_batches_collate_to_b_by_t(tmp_path):
    utterances = [make_utterance(tmp_path, f"u{i}", 0.5 + i) for i in range(3)]
    dataset = SegmentDataset(utterances, RATE, segment_seconds=1.0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collate_segments)
    batch = next(iter(loader))
    assert batch.wav.shape == (3, RATE) and batch.lengths.tolist() == [RATE // 2, RATE, RATE]


def test_loudness_normalisation_reaches_the_target_and_caps_the_gain(tmp_path):
    quiet = make_utterance(tmp_path, "quiet", 1.0, scale=0.01)
    silent = Utterance("silent", quiet.path.with_name("silent.wav"))
    soundfile.write(str(silent.path), np.full(RATE, 1e-6, dtype=np.float32), RATE, subtype="FLOAT")
    dataset = SegmentDataset([quiet, silent], RATE, target_dbfs=-20.0, max_gain_db=30.0)
    rms = dataset[0].wav.pow(2).mean().sqrt().item()
    assert 20 * np.log10(rms) == pytest.approx(-20.0, abs=0.01)
    assert dataset[1].wav.abs().max().item() == pytest.approx(1e-6 * 10 ** 1.5, rel=1e-3)


def test_loudness_gain_never_clips_and_ignores_padding():
    wav = torch.zeros(100)
    wav[:10] = torch.tensor([0.9, -0.9] * 5)
    out = normalize_rms(wav, 10, target_dbfs=0.0)
    assert out.abs().max().item() == pytest.approx(1.0)
    assert out[10:].abs().max() == 0


def test_unreadable_audio_names_the_utterance_and_the_file(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF but not really")
    with pytest.raises(UserInputError, match=r"utterance 'x' \(.*broken.wav\)"):
        SegmentDataset([Utterance("x", broken)], RATE)[0]
    nan = make_utterance(tmp_path, "nan", 0.5)
    soundfile.write(str(nan.path), np.full(RATE // 2, np.nan, dtype=np.float32), RATE,
                    subtype="FLOAT")
    with pytest.raises(UserInputError, match="utterance 'nan'.*NaN"):
        SegmentDataset([nan], RATE)[0]
    with pytest.raises(UserInputError, match="no utterances"):
        SegmentDataset([], RATE)
