#!/usr/bin/env bash
# The whole SimVQ codec pipeline in minutes on 2 CPU cores, on a mini corpus spoken by espeak-ng
# (10 synthetic speakers, ~6 min of speech, train/dev/test split by speaker). Stages:
#   0 generate the corpus   1 Kaldi data dirs   2 duration filter
#   3 train (tiny model, CPU)   4 export   5 encode + decode the test set   6 score   7 pack
#   8 dump the tokens of every set (exp/<tag>/tokens/<set>)
# Usage: bash egs/mini/run.sh [--stage N] [--stop_stage M]   (options: --help)
cd "$(dirname "$0")" && source ../../tools/recipe.sh && source ../../tools/codec_stages.sh

ngpu=0
nj=2
config=../../recipes/tiny.yaml
utts_per_speaker=10   # utterances each synthetic speaker reads
min_dur=0.5           # seconds: shorter training utterances are dropped
max_dur=20.0          # seconds: longer training utterances are dropped
train_args="--max-steps 120"   # extra arguments for simvq-audio train (120 steps: ~4 min)

parse_options "$@"
recipe_setup

train_set=train_filtered
valid_set=dev_filtered
test_sets="test"

run_stage 0 "$db" "generate the mini corpus with espeak-ng" \
    python3 -m simvq_audio.corpora.espeak_corpus --out "$db/mini" \
    --utts-per-speaker "$utts_per_speaker" --nj "$nj"
run_stage 1 "$data_dir" "prepare data dirs" python3 -m simvq_audio.corpora.libritts prepare \
    --corpus "$db/mini" --data-dir "$data_dir" --nj "$nj" train=train dev=dev test=test
run_stage 2 "$data_dir" "keep ${min_dur}-${max_dur} s utterances for training" \
    python3 -m simvq_audio.corpora.duration_filter --min-dur "$min_dur" --max-dur "$max_dur" \
    "$data_dir/train" "$data_dir/dev"
codec_stages
