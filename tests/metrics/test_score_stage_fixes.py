"""Issue 25 section 2, the score stage: a numba cache no two processes share, near-silent references
skipped, V/UV F1 on real speech, a progress estimate without the warm-up, notes in the summary."""

import multiprocessing
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from simvq_audio.metrics import batch, numba_cache
from simvq_audio.metrics.batch import ScoreJob, score_files
from simvq_audio.metrics.summary import METRIC_NOTES, markdown_summary, metric_note, summarise
from simvq_audio.metrics.utterance import ALL, METRICS, score_pair
from simvq_audio.metrics.voicing import f1_score, voiced_frames, vuv_f1

from score_helpers import write_score_corpus

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"
HOP_SECONDS = 0.02


def _pitch_cache_in_worker() -> tuple[str, str]:
    """(NUMBA_CACHE_DIR, where librosa's pYIN helper keeps its compiled code) in a worker."""
    import librosa.core.pitch

    return (os.environ[numba_cache.ENV],
            librosa.core.pitch._pi_wrapper._dispatcher.cache.cache_path)


def test_each_worker_compiles_into_a_folder_of_its_own(tmp_path):
    """Before: workers used numba's default, librosa's __pycache__ in the virtual environment,
    shared by every process; two compiling at once left a cache that crashed later runs."""
    run_folder = numba_cache.isolate()
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, initializer=batch._start_worker, initargs=([], None, run_folder)) as pool:
        setting, pitch_cache = pool.apply(_pitch_cache_in_worker)
    assert Path(setting).parent == run_folder
    assert Path(setting) != Path(os.environ[numba_cache.ENV])        # not the main process's
    assert Path(pitch_cache).is_relative_to(setting)
    assert "site-packages" not in pitch_cache


def test_parallel_score_writes_no_cache_into_the_environment(tmp_path):
    """Before: ``score --nj 2`` compiled librosa's functions into site-packages/librosa (and
    published nothing). Now the run fills the published per-user cache in one step and leaves the
    environment untouched."""
    import librosa

    corpus = write_score_corpus(tmp_path / "corpus")
    site = Path(librosa.__file__).parent
    before = {path: path.stat().st_mtime_ns for path in site.rglob("*.nb[ic]")}
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "OMP_NUM_THREADS": "1"}
    env.pop(numba_cache.ENV, None)
    script = ("import sys; from simvq_audio.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, "score", "--ref", corpus / "ref",
                           "--hyp", corpus / "hyp", "--out", corpus / "out", "--nj", "2",
                           "--model-metrics", "none", "--no-reference-cache"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    after = {path: path.stat().st_mtime_ns for path in site.rglob("*.nb[ic]")}
    assert after == before
    published = list((tmp_path / "xdg" / "simvq-audio" / "numba").glob("*/**/*pitch*.nbi"))
    assert published, "no compiled pYIN in the published cache"
    assert not list((tmp_path / "xdg" / "simvq-audio" / "numba").glob(".staging-*"))


def test_near_silent_reference_is_skipped_with_the_reason():
    """Before: only a peak below -80 dBFS counted as silent; 7 s of noise at RMS 1e-4 (peak
    about 5e-4) was scored (mel distance 4.66, STOI 0.01). Quiet speech is still scored."""
    rate = 16000
    noise = 1e-4 * np.random.default_rng(0).standard_normal(7 * rate)
    scores = score_pair(noise, noise, rate)
    assert scores.values == {}
    assert scores.skipped[ALL].startswith("silent reference (loudest 20 ms at -")
    speech, speech_rate = soundfile.read(SPEECH / "librivox_0930.wav")
    quiet = speech * 10 ** (-40 / 20)           # about -50 dBFS loudest frame
    scored = score_pair(quiet, quiet, speech_rate)
    assert ALL not in scored.skipped and scored.values["stoi"] == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("name", ["cards_005.wav", "librivox_0930.wav"])
def test_vuv_on_real_speech(name):
    """Before: pYIN on a half-semitone grid found no voiced frame in cards_005.wav (and in 3 more
    CMU clips), so V/UV F1 was skipped as 'no voiced frame in the reference'."""
    wav, rate = soundfile.read(SPEECH / name)
    voiced = voiced_frames(wav, rate)
    padded = np.pad(wav, 512)
    frames = np.lib.stride_tricks.sliding_window_view(padded, 1024)[::320][:len(voiced)]
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = level > level.max() - 20          # frames of clear speech
    assert voiced[loud].mean() > 0.6
    assert not voiced[:round(0.15 / HOP_SECONDS)].any()      # the silence before the speech
    assert vuv_f1(wav, wav, rate) == 1.0
    degraded = np.round(wav * 16) / 16                          # 4-bit quantisation
    assert 0.5 < vuv_f1(wav, degraded, rate) < 0.97


def test_noise_has_no_voiced_frame():
    noise = 0.1 * np.random.default_rng(1).standard_normal(32000)
    assert not voiced_frames(noise, 16000).any()
    with pytest.raises(Exception, match="no voiced frame"):
        f1_score(voiced_frames(noise, 16000), voiced_frames(noise, 16000))


def test_progress_estimate_leaves_out_a_slow_first_utterance(monkeypatch, capsys):
    """Before: the bar's clock started before the first utterance, whose one-time compilation
    (75 s) made the first estimate 1 h 12 min; the rate here was about 3 utt/s."""
    calls = []

    def fake_score(job, scorers=None):
        if not calls:
            time.sleep(1.0)                    # the one-time start-up
        calls.append(job.utt_id)
        return {"utt_id": job.utt_id, "skipped": {}}

    monkeypatch.setattr(batch, "score_file_pair", fake_score)
    jobs = [ScoreJob(f"u{index}", Path("r.wav"), Path("h.wav")) for index in range(3)]
    rows = score_files(jobs)
    assert [row["utt_id"] for row in rows] == ["u0", "u1", "u2"]
    rates = re.findall(r"3/3 \[[^,]*, *([\d.]+)(utt/s|s/utt)\]", capsys.readouterr().err)
    assert rates and rates[-1][1] == "utt/s" and float(rates[-1][0]) > 20


def test_summary_explains_each_metric_from_one_table():
    """Before: summary.md had no hint of the range or typical values, nor why SI-SDR is -43 dB
    for a codec that does not keep phase."""
    from simvq_audio.metrics.dnsmos import DNSMOSScorer
    from simvq_audio.metrics.speaker_similarity import SpeakerSimilarityScorer
    from simvq_audio.metrics.utmos import UtmosScorer
    from simvq_audio.metrics.wavlm_speaker import WavLMSpeakerScorer

    columns = [*METRICS, *DNSMOSScorer.columns, *SpeakerSimilarityScorer.columns,
               *UtmosScorer.columns, *WavLMSpeakerScorer.columns]
    names = [column.name for column in columns] + ["wer_whisper", "cer_sphinx", "ref_wer_sphinx"]
    assert all(metric_note(name) in METRIC_NOTES.values() for name in names)
    rows = [{"utt_id": "a", "pesq": 2.0, "si_sdr": -43.0, "skipped": {}}]
    markdown = markdown_summary(summarise(rows))
    notes = markdown.split("Reading the table")[1]
    assert f"- SI-SDR (dB): {METRIC_NOTES['si_sdr']}" in notes and "negative SI-SDR" in notes
    assert f"- PESQ-wb: {METRIC_NOTES['pesq']}" in notes
    assert markdown.count(METRIC_NOTES["pesq"]) == 1
