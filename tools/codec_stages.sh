#!/usr/bin/env bash
# Stages 3-8, the same for every corpus: train, export, decode the test sets, score, pack, and
# dump the tokens of every set (for TTS / speech-LM recipes).
# Source after tools/recipe.sh (before parse_options, so the options below exist) and call
# codec_stages after the corpus stages 0-2. Reads config, tag, ngpu, nj, data_dir, exp_dir and
# the recipe's train_set, valid_set and test_sets (names of data dirs under $data_dir).

num_machines=1              # machines taking part in training
machine_rank=0              # rank of this machine (0: the main one)
main_process_ip=127.0.0.1   # address of machine 0 (multi-machine training)
main_process_port=29500     # port of machine 0 (multi-machine training)
train_args=                 # extra arguments for simvq-audio train, e.g. "--max-steps 200"
token_format=both           # stage 8 token files: ark (Kaldi ark/scp), parquet or both
token_shard_size=1000       # stage 8: utterances per token shard

codec_stages() {
    local exp=$exp_dir/$tag launch=(--cpu --num_processes 1)
    if (( ngpu > 0 )); then
        launch=(--num_processes $((ngpu * num_machines)) --num_machines "$num_machines"
                --machine_rank "$machine_rank" --main_process_ip "$main_process_ip"
                --main_process_port "$main_process_port")
        (( ngpu * num_machines > 1 )) && launch+=(--multi_gpu)
    fi
    run_stage 3 "$exp" "train" accelerate launch "${launch[@]}" -m simvq_audio.cli train \
        --config "$config" --train-dir "$data_dir/$train_set" --valid-dir "$data_dir/$valid_set" \
        --exp-dir "$exp" --resume $train_args
    run_stage 4 "$exp" "export the model" simvq-audio export --exp-dir "$exp" --out "$exp/model"
    run_stage 5 "$exp" "decode $test_sets" decode_sets "$exp/model" "$data_dir" "$exp/decode" \
        $test_sets
    run_stage 6 "$exp" "score $test_sets" score_sets "$data_dir" "$exp/decode" "$exp/scores" \
        "$nj" $test_sets
    run_stage 7 "$exp" "pack the model" pack_model "$exp/model" "$exp/$tag.tar.gz"
    local sets="$train_set $valid_set $test_sets"
    run_stage 8 "$exp" "dump tokens of $sets" dump_tokens "$exp/model" "$data_dir" \
        "$exp/tokens" "${launch[@]}" -- $sets
    if (( stop_stage >= 6 )); then
        show_scores "$exp/scores" $test_sets
    fi
}

# dump_tokens MODEL DATA_DIR OUT LAUNCH_ARGS... -- SET...: OUT/<set>/ (tokens.scp, ark/, parquet/,
# index.json) per set, over accelerate processes: the training GPUs, or nj CPU processes.
dump_tokens() {
    local model=$1 data=$2 out=$3 device=cpu x launch=()
    shift 3
    while [ "$1" != -- ]; do launch+=("$1"); shift; done
    shift
    if (( ngpu > 0 )); then
        device=cuda
    elif (( nj > 1 )); then  # accelerate's --cpu starts one process: --multi_gpu gives nj ranks
        launch=(--multi_gpu --num_processes "$nj" --num_machines 1 --mixed_precision no
                --dynamo_backend no)
    fi
    for x in "$@"; do
        accelerate launch "${launch[@]}" -m simvq_audio.cli tokenize --overwrite --model "$model" \
            --data-dir "$data/$x" --out "$out/$x" --format "$token_format" \
            --shard-size "$token_shard_size" --device "$device"
    done
}

# decode_sets MODEL DATA_DIR DECODE_DIR SET...: encode each set to .codes, decode them to wav.
# --overwrite: these folders are the recipe's own; after a retrain (a new model) their files are
# redone, while files verified as this model's result for the same input are still skipped.
decode_sets() {
    local model=$1 data=$2 out=$3 x
    shift 3
    for x in "$@"; do
        simvq-audio encode --overwrite --model "$model" "$data/$x/wav.scp" "$out/$x/codes"
        simvq-audio decode --overwrite --model "$model" "$out/$x/codes" "$out/$x/wav"
    done
}

# score_sets DATA_DIR DECODE_DIR SCORE_DIR NJ SET...: metrics table and plots per set.
score_sets() {
    local data=$1 decoded=$2 out=$3 jobs=$4 x
    shift 4
    for x in "$@"; do
        simvq-audio score --ref "$data/$x/wav.scp" --hyp "$decoded/$x/wav" \
            --codes "$decoded/$x/codes" --out "$out/$x" --nj "$jobs"
    done
}

# show_scores SCORE_DIR SET...: the table and plots of each set scored so far (the recipe's end).
show_scores() {
    local out=$1 x
    shift
    for x in "$@"; do
        [ -f "$out/$x/summary.md" ] || continue
        recipe_log "scores of $x (per utterance: $out/$x/scores.csv)"
        cat "$out/$x/summary.md"
        recipe_log "plots: $(echo "$out/$x"/*.png)"
    done
}

# pack_model MODEL_DIR ARCHIVE: the model directory as a .tar.gz (renamed into place when done).
pack_model() {
    tar -czf "$2.tmp" -C "$(dirname "$1")" "$(basename "$1")"
    mv "$2.tmp" "$2"
    echo "packed $1 into $2"
}
