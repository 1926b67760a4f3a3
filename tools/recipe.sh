#!/usr/bin/env bash
# Shared stage logic for egs/<corpus>/run.sh (Kaldi/ESPnet style). A run.sh looks like:
#
#   cd "$(dirname "$0")" && source ../../tools/recipe.sh   # defines the shared options below
#   min_dur=1.0   # seconds; every variable set here is an option (--min_dur / --min-dur)
#   parse_options "$@"
#   recipe_setup                                              # python env, tag, log folder
#
#   if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then   # each stage written out
#       run_stage 0 "$db" "download" python3 -m ...   # N, marker root, title, command
#   fi
#   if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then   # a stage of several commands
#       for x in ${test_sets}; do
#           step simvq-audio encode ... "$x"   # queues one command of the stage
#       done
#       run_stage 5 "$exp" "decode ${test_sets}"   # runs the queued commands
#   fi
#
# run_stage N ROOT TITLE [COMMAND...] runs the commands queued with step, then COMMAND, each
# through the launcher $cmd (tools/launch/local.sh runs them here, tools/launch/slurm.sh on a
# Slurm cluster; a command that is a shell function of the recipe runs here). It logs every line
# with a time stamp to the terminal and to $exp_dir/$tag/logs/stage<N>.log, stops the recipe when
# a command fails (naming the stage and its log) and, on success, writes a done marker
# <root>/.done/stage<N>.<hash of the commands>, so the same stage with the same commands (whatever
# the launcher and the --threads given to them) is skipped next time. run.sh works from its own
# folder, so relative paths in options are relative to egs/<corpus>.
set -euo pipefail

_recipe_baseline=" $(compgen -v | tr '\n' ' ') "
_recipe_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_recipe_name="egs/$(basename "$PWD")/run.sh"
_recipe_script="$PWD/$(basename "$0")"

stage=0           # first stage to run
stop_stage=100    # last stage to run
ngpu=1            # GPUs per machine (0: train on CPU)
nj=4              # parallel jobs for data preparation and scoring
threads=0         # CPU threads of torch, split among a stage's --nj jobs (0: automatic, see docs/cli.md)
config=           # model + training YAML
tag=              # experiment name: exp/<tag> (default: the config file name)
db=db             # where the corpus is downloaded or generated
data_dir=data     # where the Kaldi data dirs are written
exp_dir=exp       # where experiments are written
cmd=../../tools/launch/local.sh   # how stage commands run (on Slurm: ../../tools/launch/slurm.sh)

recipe_die() {
    echo "$_recipe_name: error: $*" >&2
    exit 2
}

recipe_log() {
    printf '%(%F %T)T [%s] %s\n' -1 "$_recipe_name" "$*"
}

# The options: variables set after this file was sourced (lower-case names only).
_recipe_options() {
    local _name
    for _name in $(compgen -v); do
        [[ $_name =~ ^[a-z][a-z0-9_]*$ && $_recipe_baseline != *" $_name "* ]] && echo "$_name"
    done
}

# The '# help' comment of the line that sets $1 in run.sh, else in a shared tools/*.sh file.
_recipe_help_of() {
    local file
    for file in "$_recipe_script" "$_recipe_root"/tools/*.sh; do
        grep -m1 -E "^$1=[^#]*#" "$file" 2>/dev/null | sed -E 's/^[^#]*#[[:space:]]*//' && return
    done
}

recipe_usage() {
    echo "Usage: bash $_recipe_name [--option value]..."
    echo "Options (current value in brackets; --foo_bar and --foo-bar are the same):"
    local _name
    for _name in $(_recipe_options); do
        printf '  --%-18s %s [%s]\n' "$_name" "$(_recipe_help_of "$_name")" "${!_name}"
    done
}

# Kaldi parse_options style: '--name value' or '--name=value' sets an existing option variable.
parse_options() {
    local _options _name _value
    _options=" $(_recipe_options | tr '\n' ' ') "
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) recipe_usage; exit 0 ;;
            --*=*) _name=${1%%=*}; _value=${1#*=}; shift ;;
            --?*) [ $# -ge 2 ] || recipe_die "option $1 needs a value"
                  _name=$1; _value=$2; shift 2 ;;
            *) recipe_die "unexpected argument '$1' (options look like --stage 1; see --help)" ;;
        esac
        _name=${_name#--}
        _name=${_name//-/_}
        [[ $_options == *" $_name "* ]] || recipe_die "unknown option --$_name (see --help)"
        _recipe_check_value "$_name" "$_value"
        printf -v "$_name" '%s' "$_value"
    done
    (( stop_stage >= stage )) || recipe_die "--stop_stage $stop_stage is before --stage $stage"
    local _launcher _launcher_args
    read -r _launcher _launcher_args <<< "$cmd"
    [ -z "$_launcher" ] || command -v "$_launcher" > /dev/null \
        || recipe_die "--cmd: '$_launcher' is not a command (see tools/launch/)"
}

# A value must keep its default's kind: true/false, or a non-negative integer.
_recipe_check_value() {
    local _default=${!1}
    if [[ $_default == true || $_default == false ]]; then
        [[ $2 == true || $2 == false ]] || recipe_die "--$1 must be true or false, got '$2'"
    elif [[ $_default =~ ^[0-9]+$ ]]; then
        [[ $2 =~ ^[0-9]+$ ]] || recipe_die "--$1 must be a non-negative integer, got '$2'"
    fi
}

# recipe_setup [EXTRAS]: use the active Python if it has simvq_audio, torch and the packages of
# this package's optional dependency groups EXTRAS (comma-separated, e.g. train,mini), else
# create/update ./.venv with simvq-audio[EXTRAS] (default: test, every group).
recipe_setup() {
    local extras=${1:-} probe="import importlib.metadata as m, importlib.util as u, re, sys
def ready(extras):
    if not (u.find_spec('simvq_audio') and u.find_spec('torch')):
        return False
    if not extras:
        return True
    if not set(extras) <= set(m.metadata('simvq-audio').get_all('Provides-Extra') or []):
        return False  # installed before these groups existed
    for r in m.requires('simvq-audio') or []:
        if any(f'extra == \"{e}\"' in r for e in extras):
            m.distribution(re.match(r'[A-Za-z0-9._-]+', r)[0])  # raises if missing
    return True
sys.exit(not ready([e for e in sys.argv[1].split(',') if e]))"
    if ! python3 -c "$probe" "$extras" 2>/dev/null; then
        (cd "$_recipe_root" && source tools/venv.sh && ensure_venv "${extras:-test}") \
            || recipe_die "could not set up $_recipe_root/.venv (see the messages above)"
        export PATH="$_recipe_root/.venv/bin:$PATH"
    fi
    export PYTHONUNBUFFERED=1
    [ -n "$config" ] || recipe_die "no --config given"
    [ -n "$tag" ] || tag=$(basename "${config%.*}")
    if (( threads == 0 )); then
        threads=$(python3 -c "from simvq_audio.threads import default_threads as d; print(d())") \
            || recipe_die "cannot choose a thread count (see above); give --threads N"
    fi
    mkdir -p "$exp_dir/$tag/logs"
    recipe_log "stages $stage..$stop_stage, tag $tag, $threads threads, logs in $exp_dir/$tag/logs"
}

# threads_per_job N: the torch threads of each of N parallel jobs (Kaldi's nj x threads): the
# recipe's --threads shared among them, at least 1.
threads_per_job() {
    echo $(( threads / $1 > 1 ? threads / $1 : 1 ))
}

# Each line with a time stamp; a progress bar's redraw ('\r') counts as a line, so that training
# progress shows while it runs, not in one line at the end.
_recipe_timestamp() {
    local line
    stdbuf -oL tr '\r' '\n' | while IFS= read -r line || [ -n "$line" ]; do
        if [ -n "$line" ]; then printf '%(%F %T)T %s\n' -1 "$line"; fi
    done
}

_recipe_steps=()

# step COMMAND...: queue COMMAND as one of the commands of the stage that run_stage runs next.
step() {
    _recipe_steps+=("$(printf '%q ' "$@")")
}

# Run each queued command (words quoted by step) through $cmd; a function of the recipe runs here.
_recipe_run_steps() {
    local _step _words
    for _step in "$@"; do
        eval "_words=($_step)"
        if declare -F "${_words[0]}" > /dev/null; then
            "${_words[@]}"
        else
            $cmd "${_words[@]}"
        fi
    done
}

# run_stage N ROOT TITLE [COMMAND...]: run the queued commands, then COMMAND, as stage N; its done
# marker lives in ROOT/.done.
run_stage() {
    local _n=$1 _root=$2 _title=$3
    shift 3
    (( $# == 0 )) || step "$@"
    local _steps=("${_recipe_steps[@]}") _command _marker _start=$SECONDS _status
    local _log=$exp_dir/$tag/logs/stage$_n.log
    _recipe_steps=()
    _command=$(printf '%s\n' "${_steps[@]}")
    _marker=$_root/.done/stage$_n.$(printf '%s' "$_command" | sed -E 's/ --threads [0-9]+//g' \
                                    | cksum | cut -d' ' -f1)
    if [ -f "$_marker" ]; then
        recipe_log "stage $_n ($_title): already done, skipping (rm $_marker to redo)"
        return 0
    fi
    recipe_log "stage $_n: $_title (log: $_log)"
    printf '# %s\n' "${_steps[@]}" >> "$_log"
    printf '# started at %(%F %T)T\n' -1 >> "$_log"
    set +e
    ( set -e; _recipe_run_steps "${_steps[@]}" ) 2>&1 | _recipe_timestamp | tee -a "$_log"
    _status=${PIPESTATUS[0]}
    set -e
    printf '# ended with status %s after %s s\n' "$_status" "$((SECONDS - _start))" >> "$_log"
    if [ "$_status" -ne 0 ]; then
        echo "$_recipe_name: stage $_n ($_title) failed with status $_status; see $_log" >&2
        exit "$_status"
    fi
    mkdir -p "$_root/.done"
    printf '%s\n' "$_command" > "$_marker"
    recipe_log "stage $_n done in $((SECONDS - _start)) s"
}
