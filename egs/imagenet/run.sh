#!/usr/bin/env bash
# SimVQ image tokenizer on ImageNet at 128x128 (16x16 tokens, d = 128), the paper's image
# setting. ImageNet cannot be downloaded by a script (its licence needs a login): point
# --imagenet at a folder holding train/ and val/ as ImageFolder trees (train/<class>/*.JPEG;
# val/ may be flat). Any other ImageFolder corpus works the same way. Stages:
#   0 link + check the image trees   1 train (accelerate)   2 export
#   3 encode + decode the valid images   4 score (PSNR, SSIM, utilisation; rFID needs
#     --inception_weights)
# Examples: bash run.sh --imagenet /corpora/imagenet --ngpu 8;  bash run.sh --config
#   ../../recipes/image_262k.yaml.  Options: bash run.sh --help.
cd "$(dirname "$0")" && source ../../tools/recipe.sh && source ../../tools/image_stages.sh

ngpu=1
config=../../recipes/image_65k.yaml
imagenet=             # folder with train/ and val/ ImageFolder trees

parse_options "$@"
recipe_setup

# link_trees SRC DATA_DIR: DATA_DIR/train and DATA_DIR/valid point at SRC/train and SRC/val.
link_trees() {
    [ -n "$1" ] || { echo "no --imagenet given (a folder with train/ and val/)" >&2; return 2; }
    local split source
    mkdir -p "$2"
    for split in train valid; do
        source=$1/$([ $split = train ] && echo train || echo val)
        [ -d "$source" ] || { echo "$source is not a folder" >&2; return 2; }
        ln -sfn "$(cd "$source" && pwd)" "$2/$split"
        echo "$split: $(find -L "$2/$split" -type f \( -iname '*.jpeg' -o -iname '*.jpg' \
            -o -iname '*.png' \) | wc -l) images in $source"
    done
}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    run_stage 0 "$data_dir" "link and check the image trees" link_trees "$imagenet" \
        "$data_dir"
fi

image_stages
