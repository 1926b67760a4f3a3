#!/usr/bin/env bash
# Stages 3-8, the same for every corpus: train, export, decode the test sets, score, pack, and
# dump the tokens of every set (for TTS / speech-LM recipes).
# Source after tools/recipe.sh (before parse_options, so the options below exist) and call
# codec_stages after the corpus stages 0-2. Reads config, tag, ngpu, nj, threads, data_dir, exp_dir
# and the recipe's train_set, valid_set and test_sets (names of data dirs under $data_dir).
# Every simvq-audio command gets --threads: all of $threads when it runs alone, its share
# (threads_per_job) when it is one of several processes (score --nj, the ranks of accelerate).

num_machines=1              # machines taking part in training
machine_rank=0              # rank of this machine (0: the main one)
main_process_ip=127.0.0.1   # address of machine 0 (multi-machine training)
main_process_port=29500     # port of machine 0 (multi-machine training)
train_args=                 # extra arguments for simvq-audio train, e.g. "--max-steps 200"
score_args=                 # extra arguments for simvq-audio score, e.g. "--model-metrics none"
token_format=both           # stage 8 token files: ark (Kaldi ark/scp), parquet or both
token_shard_size=1000       # stage 8: utterances per token shard

codec_stages() {
    local exp=$exp_dir/$tag launch=(--cpu --num_processes 1) token_launch device=cpu x
    local train_threads=$threads token_threads=$threads
    if (( ngpu > 0 )); then
        train_threads=$(threads_per_job "$ngpu")  # the ranks on this machine
        token_threads=$train_threads
        launch=(--num_processes $((ngpu * num_machines)) --num_machines "$num_machines"
                --machine_rank "$machine_rank" --main_process_ip "$main_process_ip"
                --main_process_port "$main_process_port")
        (( ngpu * num_machines > 1 )) && launch+=(--multi_gpu)
    fi
    # Stage 8 tokenizes over the training GPUs, or over nj CPU processes (accelerate's --cpu
    # starts one process: --multi_gpu gives nj ranks).
    token_launch=("${launch[@]}")
    if (( ngpu > 0 )); then
        device=cuda
    elif (( nj > 1 )); then
        token_launch=(--multi_gpu --num_processes "$nj" --num_machines 1 --mixed_precision no
                      --dynamo_backend no)
        token_threads=$(threads_per_job "$nj")
    fi

    if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
        run_stage 3 "$exp" "train" accelerate launch "${launch[@]}" -m simvq_audio.cli train \
            --config "$config" --train-dir "$data_dir/$train_set" \
            --valid-dir "$data_dir/$valid_set" --exp-dir "$exp" --resume $train_args \
            --threads "$train_threads"
    fi

    if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
        run_stage 4 "$exp" "export the model" simvq-audio export --exp-dir "$exp" \
            --out "$exp/model" --threads "$threads"
    fi

    if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
        # Each test set to .codes and back to wav. --overwrite: these folders are the recipe's
        # own; after a retrain (a new model) their files are redone, while files verified as
        # this model's result for the same input are still skipped.
        for x in $test_sets; do
            step simvq-audio encode --overwrite --model "$exp/model" "$data_dir/$x/wav.scp" \
                "$exp/decode/$x/codes" --threads "$threads"
            step simvq-audio decode --overwrite --model "$exp/model" "$exp/decode/$x/codes" \
                "$exp/decode/$x/wav" --threads "$threads"
        done
        run_stage 5 "$exp" "decode $test_sets"
    fi

    if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
        for x in $test_sets; do  # metrics table and plots per set
            step simvq-audio score --ref "$data_dir/$x" --hyp "$exp/decode/$x/wav" \
                --codes "$exp/decode/$x/codes" --out "$exp/scores/$x" --nj "$nj" $score_args \
                --threads "$(threads_per_job "$nj")"
        done
        run_stage 6 "$exp" "score $test_sets"
    fi

    if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
        step tar -czf "$exp/$tag.tar.gz.tmp" -C "$exp" model  # renamed into place when done
        run_stage 7 "$exp" "pack the model" mv "$exp/$tag.tar.gz.tmp" "$exp/$tag.tar.gz"
    fi

    local sets="$train_set $valid_set $test_sets"
    if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
        for x in $sets; do  # <set>/: tokens.scp, ark/, parquet/, index.json
            step accelerate launch "${token_launch[@]}" -m simvq_audio.cli tokenize --overwrite \
                --model "$exp/model" --data-dir "$data_dir/$x" --out "$exp/tokens/$x" \
                --format "$token_format" --shard-size "$token_shard_size" --device "$device" \
                --threads "$token_threads"
        done
        run_stage 8 "$exp" "dump tokens of $sets"
    fi

    if (( stop_stage >= 6 )); then
        show_scores "$exp/scores" $test_sets
    fi
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
    [[ $out == /* ]] || recipe_log "paths above are relative to $PWD"
}
