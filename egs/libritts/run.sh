#!/usr/bin/env bash
# SimVQ codec on LibriTTS (24 kHz), the paper configuration. Stages:
#   0 download + verify + extract the subsets   1 Kaldi data dirs   2 duration filter
#   3 train (accelerate)   4 export   5 decode the test sets   6 score   7 pack the model
#   8 dump the tokens of every set for TTS (exp/<tag>/tokens/<set>: tokens.scp, parquet/)
# Examples: bash run.sh --db /corpora --stop_stage 2;  bash run.sh --stage 3 --ngpu 8
# Options: bash run.sh --help (--threads T: torch CPU threads, shared by a stage's --nj jobs).
# Stage logs: exp/<tag>/logs/stage<N>.log.
cd "$(dirname "$0")" && source ../../tools/recipe.sh && source ../../tools/codec_stages.sh

ngpu=1
nj=8
config=../../recipes/simvq_65k.yaml
base_url=https://www.openslr.org/resources/60   # where <subset>.tar.gz are downloaded from
checksums=local/libritts.sha256   # SHA-256 of the archives (as published in torchaudio)
train_subsets="train-clean-100 train-clean-360 train-other-500"   # LibriTTS subsets to train on
valid_subset=dev-clean                  # LibriTTS subset for validation
test_subsets="test-clean test-other"    # LibriTTS subsets to decode and score
min_dur=1.0                             # seconds: shorter training utterances are dropped
max_dur=30.0                            # seconds: longer training utterances are dropped

parse_options "$@"
recipe_setup

# Data dirs are named after the subsets with '_' for '-': dev-clean -> data/dev_clean.
train_set=train_filtered
valid_set=${valid_subset//-/_}_filtered
test_sets=${test_subsets//-/_}
set_specs=("train=${train_subsets// /,}")
for x in $valid_subset $test_subsets; do set_specs+=("${x//-/_}=$x"); done

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    run_stage 0 "$db" "download LibriTTS" python3 -m simvq_audio.corpora.libritts download \
        --db "$db" --base-url "$base_url" --checksums "$checksums" \
        $train_subsets $valid_subset $test_subsets
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    run_stage 1 "$data_dir" "prepare data dirs" python3 -m simvq_audio.corpora.prepare \
        --corpus "$db/LibriTTS" --data-dir "$data_dir" --nj "$nj" "${set_specs[@]}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    run_stage 2 "$data_dir" "keep ${min_dur}-${max_dur} s utterances for training" \
        python3 -m simvq_audio.corpora.duration_filter --min-dur "$min_dur" --max-dur "$max_dur" \
        "$data_dir/train" "$data_dir/${valid_subset//-/_}"
fi

codec_stages
