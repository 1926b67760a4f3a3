#!/usr/bin/env bash
# The whole SimVQ codec pipeline in minutes on 2 CPU cores, on a mini corpus of real recorded
# speech fetched from Debian's archive (--corpus debian, the default; python3 and network only):
# Asterisk's studio prompts by 4 professional voices (en, es, fr, it, ru; 16 kHz G.722) for train
# (~20 min) and dev; test: other prompts of those voices and 2 English speakers of
# pocketsphinx-testdata, never seen in training. --corpus espeak: 10 synthetic espeak-ng speakers instead (needs espeak-ng). Stages:
#   0 fetch + decode the corpus   1 Kaldi data dirs   2 duration filter
#   3 train (tiny model, CPU)   4 export   5 encode + decode the test set   6 score   7 pack
#   8 dump the tokens of every set (exp/<tag>/tokens/<set>)
# Usage: bash egs/mini/run.sh [--stage N] [--stop_stage M] [--threads T]   (options: --help)
# --threads T: torch CPU threads, shared by a stage's --nj jobs (default: $OMP_NUM_THREADS if set,
# else the CPUs this process may use, CPU affinity and cgroup quota included)
cd "$(dirname "$0")" && source ../../tools/recipe.sh && source ../../tools/codec_stages.sh

ngpu=0
nj=2
config=../../recipes/tiny.yaml
corpus=debian         # debian: real speech (Debian's archive); espeak: synthetic, in *_espeak dirs
train_minutes=20      # debian: minutes of training speech, shared by the 4 voices (at most ~50)
dev_utts_per_voice=4  # debian: prompts per voice held out for validation
test_utts_per_voice=12  # debian: prompts per voice held out for test (beside 2 unseen speakers)
debian_mirror=http://deb.debian.org/debian   # debian: the archive the packages come from
debian_suite=bookworm # debian: the Debian release whose packages are used
debian_cache=         # debian: index + .deb files, kept for reruns (default: <db>/debian)
utts_per_speaker=10   # espeak: utterances each synthetic speaker reads
min_dur=0.5           # seconds: shorter training utterances are dropped
max_dur=20.0          # seconds: longer training utterances are dropped
train_args="--max-steps 120"   # extra arguments for simvq-audio train (120 steps: ~4 min)

parse_options "$@"
case $corpus in
    debian) corpus_dir=$db/mini
            language_folders=--language-folders ;;  # <speaker>/<language>/<utt>.wav: utt2lang
    espeak) corpus_dir=$db/mini_espeak  # and its own data dirs and experiment
            language_folders=
            data_dir=${data_dir%/}_espeak
            [ -n "$tag" ] || tag=$(basename "${config%.*}")_espeak ;;
    *) recipe_die "--corpus must be debian or espeak, got '$corpus'" ;;
esac
recipe_setup train,metrics,tokenize,mini,eval

train_set=train_filtered
valid_set=dev_filtered
test_sets="test"

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    if [ "$corpus" = debian ]; then
        run_stage 0 "$db" "fetch real speech from $debian_mirror ($debian_suite) and decode it" \
            python3 -m simvq_audio.corpora.debian_speech --out "$corpus_dir" \
            --archive-dir "${debian_cache:-$db/debian}" --mirror "$debian_mirror" \
            --suite "$debian_suite" --train-minutes "$train_minutes" \
            --dev-utts-per-voice "$dev_utts_per_voice" \
            --test-utts-per-voice "$test_utts_per_voice" --nj "$nj"
    else
        run_stage 0 "$db" "generate the mini corpus with espeak-ng" \
            python3 -m simvq_audio.corpora.espeak_corpus --out "$corpus_dir" \
            --utts-per-speaker "$utts_per_speaker" --nj "$nj"
    fi
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    run_stage 1 "$data_dir" "prepare data dirs" python3 -m simvq_audio.corpora.prepare \
        --corpus "$corpus_dir" --data-dir "$data_dir" --nj "$nj" $language_folders \
        train=train dev=dev test=test
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    run_stage 2 "$data_dir" "keep ${min_dur}-${max_dur} s utterances for training" \
        python3 -m simvq_audio.corpora.duration_filter --min-dur "$min_dur" --max-dur "$max_dur" \
        "$data_dir/train" "$data_dir/dev"
fi

codec_stages
