#!/usr/bin/env bash
# Stages 1-4 of the image tokenizer recipes, the same for every image corpus: train, export,
# encode + decode the valid images, score. Source after tools/recipe.sh (before parse_options,
# so the options below exist) and call image_stages after the corpus stage 0, which must leave
# ImageFolder trees (any depth of sub-folders) at $data_dir/train and $data_dir/valid. Every
# simvq-audio command gets --threads $threads (each of $ngpu training ranks its share).

train_args=           # extra arguments for simvq-audio image train, e.g. "--max-steps 200"
inception_weights=    # local Inception weights for rFID (none: rFID is reported as not available)

image_stages() {
    local exp=$exp_dir/$tag launch=(--cpu --num_processes 1) cpu=--cpu score_args=()
    local train_threads=$threads
    if (( ngpu > 0 )); then
        train_threads=$(threads_per_job "$ngpu")
        launch=(--num_processes "$ngpu")
        (( ngpu > 1 )) && launch+=(--multi_gpu)
        cpu=
    fi
    [ -n "$inception_weights" ] && score_args=(--inception-weights "$inception_weights")

    if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
        run_stage 1 "$exp" "train" accelerate launch "${launch[@]}" -m simvq_audio.cli image \
            train --config "$config" --train-dir "$data_dir/train" \
            --valid-dir "$data_dir/valid" --exp-dir "$exp" --resume $cpu $train_args \
            --threads "$train_threads"
    fi

    if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
        run_stage 2 "$exp" "export the model" simvq-audio image export --exp-dir "$exp" \
            --out "$exp/model" --threads "$threads"
    fi

    if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
        # decode/codes/*.codes and decode/images/*.png (centre crops at the model's
        # resolution, as scored). --overwrite: these folders are the recipe's own; after a
        # retrain their files are redone, while codes verified as this model's result for the
        # same image are still skipped.
        step simvq-audio image encode --overwrite --model "$exp/model" --resize \
            "$data_dir/valid" "$exp/decode/codes" --threads "$threads"
        run_stage 3 "$exp" "encode + decode the valid images" simvq-audio image decode \
            --overwrite --model "$exp/model" "$exp/decode/codes" "$exp/decode/images" \
            --threads "$threads"
    fi

    if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
        # --overwrite: the recipe's own report folder (a report of another model is replaced)
        run_stage 4 "$exp" "score the valid images" simvq-audio image score --overwrite \
            --model "$exp/model" --images "$data_dir/valid" --out "$exp/scores" \
            "${score_args[@]}" --threads "$threads"
    fi
}
