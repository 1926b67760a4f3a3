#!/usr/bin/env bash
# Stages 1-4 of the image tokenizer recipes, the same for every image corpus: train, export,
# encode + decode the valid images, score. Source after tools/recipe.sh (before parse_options,
# so the options below exist) and call image_stages after the corpus stage 0, which must leave
# ImageFolder trees (any depth of sub-folders) at $data_dir/train and $data_dir/valid.

train_args=           # extra arguments for simvq-audio image train, e.g. "--max-steps 200"
inception_weights=    # local Inception weights for rFID (none: rFID is reported as not available)

image_stages() {
    local exp=$exp_dir/$tag launch=(--cpu --num_processes 1) cpu=--cpu score_args=()
    if (( ngpu > 0 )); then
        launch=(--num_processes "$ngpu")
        (( ngpu > 1 )) && launch+=(--multi_gpu)
        cpu=
    fi
    [ -n "$inception_weights" ] && score_args=(--inception-weights "$inception_weights")
    run_stage 1 "$exp" "train" accelerate launch "${launch[@]}" -m simvq_audio.cli image train \
        --config "$config" --train-dir "$data_dir/train" --valid-dir "$data_dir/valid" \
        --exp-dir "$exp" --resume $cpu $train_args
    run_stage 2 "$exp" "export the model" simvq-audio image export --exp-dir "$exp" \
        --out "$exp/model"
    run_stage 3 "$exp" "encode + decode the valid images" encode_decode_images "$exp/model" \
        "$data_dir/valid" "$exp/decode"
    run_stage 4 "$exp" "score the valid images" simvq-audio image score --model "$exp/model" \
        --images "$data_dir/valid" --out "$exp/scores" "${score_args[@]}"
}

# encode_decode_images MODEL IMAGES OUT: OUT/codes/*.codes and OUT/images/*.png (centre crops
# at the model's resolution, as scored).
encode_decode_images() {
    simvq-audio image encode --model "$1" --resize "$2" "$3/codes"
    simvq-audio image decode --model "$1" "$3/codes" "$3/images"
}
