"""Stage 0 of egs/mini: the real-speech corpus from a fake Debian mirror on 127.0.0.1 is
LibriTTS-shaped, 24 kHz, split by speaker (test: held-out prompts and speakers never in train),
selected by duration, and carries its licences."""

from __future__ import annotations

import pytest
import soundfile

from simvq_audio.corpora import debian_speech
from simvq_audio.corpora.debian_archive import DebianArchive
from simvq_audio.corpora.debian_speech import Clip, build
from simvq_audio.corpora.prepare import prepare
from simvq_audio.data.kaldi_dir import read_data_dir
from simvq_audio.errors import UserInputError

from recipe_fakes import PROMPT_SECONDS, FakeServer, mini_corpus_mirror

quiet = {"log": lambda message: None}
VOICES = {"allison", "june", "carlo", "ivrvoiceru"}


@pytest.fixture(scope="module")
def server():
    fake = FakeServer(mini_corpus_mirror())
    yield fake
    fake.close()


def make(server, tmp_path, **kwargs):
    archive = DebianArchive(tmp_path / "debian", f"{server.url}/debian", **quiet)
    return build(tmp_path / "mini", archive, **kwargs, **quiet)


def speakers(out, split):
    return {path.name for path in (out / split).iterdir()}


def test_builds_a_corpus_split_by_speaker_at_24k_with_its_licences(server, tmp_path):
    # 0.6 min = 9 s per voice: allison reads en and es, so she has twice the prompts
    stats = make(server, tmp_path, train_minutes=0.6, dev_utts_per_voice=1, test_utts_per_voice=1)
    out = tmp_path / "mini"
    assert speakers(out, "train") == speakers(out, "dev") == VOICES
    assert speakers(out, "test") == VOICES | {"librivox", "cards"}
    assert {p.name for p in (out / "train" / "allison").iterdir()} <= {"en", "es"}
    assert stats["test"][:2] == (6, 8)
    assert stats["dev"][:2] == (4, 4)

    wavs = sorted(out.glob("*/*/*/*.wav"))
    assert len(wavs) == stats["train"][1] + 4 + 8
    selected = set()
    for wav in wavs:
        info = soundfile.info(str(wav))
        assert info.samplerate == 24000
        speaker, chapter = wav.parent.parent.name, wav.parent.name
        assert wav.stem.startswith(f"{speaker}_{chapter}_")
        assert wav.with_name(wav.stem + ".normalized.txt").read_text().strip()
        selected.add(wav.stem.split("_", 2)[2])
        if wav.parts[-4] != "test":
            assert 2.0 <= info.frames / 24000 <= 20.0
    assert not selected & {"beep", "short", "long", "untranscribed"}, "2-20 s, transcribed"
    for voice in VOICES:
        seconds = sum(soundfile.info(str(w)).frames / 24000
                      for w in (out / "train" / voice).glob("*/*.wav"))
        assert 9.0 <= seconds < 9.0 + max(s for s in PROMPT_SECONDS.values() if s <= 20), voice
    text = (out / "test" / "librivox" / "en" / "librivox_en_0880.normalized.txt").read_text()
    assert text == "he was not an ill disposed young man\n"

    readme = (out / "README.md").read_text()
    for needle in ("CC-BY-SA-3.0", "CC-BY-3.0", "BSD-2-Clause", "Allison Smith", "June Wallack",
                   "Carlo Flora", "ivrvoice.ru", "G.722 decoded, resampled"):
        assert needle in readme
    licences = {p.name for p in (out / "licenses").iterdir()}
    assert "asterisk-core-sounds-it-g722.copyright" in licences
    assert "pocketsphinx-testdata.copyright" in licences
    assert not (tmp_path / "mini.partial").exists()

    prepare(out, tmp_path / "data", "test", ["test"], language_folders=True, **quiet)
    test = read_data_dir(tmp_path / "data" / "test")
    assert {utt.speaker for utt in test} == VOICES | {"librivox", "cards"}
    # utt2lang from the <speaker>/<language>/ folders: the id's language, English test speakers
    assert all(utt.language == utt.utt_id.split("_")[1] for utt in test
               if utt.speaker in VOICES)
    assert {utt.language for utt in test if utt.speaker in ("librivox", "cards")} == {"en"}
    prepare(out, tmp_path / "data", "train", ["train"], **quiet)
    train = read_data_dir(tmp_path / "data" / "train")
    assert not {utt.utt_id for utt in test} & {utt.utt_id for utt in train}
    assert not {"librivox", "cards"} & {utt.speaker for utt in train}


def test_utterance_ids_keep_the_prompt_folder():
    clip = Clip("allison", "es", "digits/7", "siete", b"", "g722", 2.0, "CC-BY-SA-3.0")
    assert clip.utt_id == "allison_es_digits-7"


def test_the_selection_is_deterministic_and_grows_with_the_budget(server, tmp_path):
    def train_ids(folder, minutes):
        make(server, folder, train_minutes=minutes, dev_utts_per_voice=1, test_utts_per_voice=1)
        return {p.stem for p in (folder / "mini" / "train").glob("*/*/*.wav")}

    small = train_ids(tmp_path / "a", 0.3)
    assert small == train_ids(tmp_path / "b", 0.3)
    assert small < train_ids(tmp_path / "c", 0.6)


def test_a_budget_leaving_nothing_for_dev_is_refused(server, tmp_path):
    with pytest.raises(UserInputError,
                       match="leaves fewer than 1 for dev and 2 for test; ask for fewer"):
        make(server, tmp_path, train_minutes=60, dev_utts_per_voice=1, test_utts_per_voice=2)
    assert not (tmp_path / "mini").exists()


def test_the_command_prints_the_statistics(server, tmp_path, capsys):
    debian_speech.main(["--out", str(tmp_path / "mini"), "--archive-dir", str(tmp_path / "deb"),
                        "--mirror", f"{server.url}/debian", "--train-minutes", "0.3",
                        "--dev-utts-per-voice", "1", "--test-utts-per-voice", "1"])
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'mini'}/test: 6 speakers, 8 utterances" in printed
    assert "README.md: sources, licences and credits" in printed
