#!/usr/bin/env bash
# The whole image tokenizer pipeline in minutes on 2 CPU cores, on 32x32 patches of the sample
# photographs bundled with scikit-image (nothing is downloaded). Stages:
#   0 cut the patches (train/ and valid/)   1 train (tiny model, CPU)   2 export
#   3 encode + decode the valid patches   4 score
# Usage: bash egs/image_mini/run.sh [--stage N] [--stop_stage M]   (options: --help)
cd "$(dirname "$0")" && source ../../tools/recipe.sh && source ../../tools/image_stages.sh

ngpu=0
config=../../recipes/image_tiny.yaml
patch_size=32         # patch side in pixels (the tiny model's resolution)
train_patches=64      # training patches cut from each photograph
valid_patches=8       # validation patches from each photograph's held-out bottom band

parse_options "$@"
recipe_setup

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    run_stage 0 "$data_dir" "cut sample photographs into patches" simvq-audio image patches \
        --out "$data_dir" --size "$patch_size" --train-per-image "$train_patches" \
        --valid-per-image "$valid_patches" --threads "$threads"
fi

image_stages
