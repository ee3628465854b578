#!/usr/bin/env bash
# Issue 29's GPU measurements in one call of a lent GPU machine (docs/scaling.md says what
# each figure means). Here first: `python scripts/device_pack.py pack` (PocketCLIP's
# towers, Fashion-MNIST test and the wheels the machine lacks go to .dev/), then the call
# carries .dev and runs `bash benchmarks/device_run.sh`; the JSON files come back under $OUT.
# Each stage has its own time limit, so one that hangs leaves the others their time.
# Arguments name the stages to run (default: all but `training`, which reruns gpu_fill's
# training parts). Where the call's working tree is limited (64 MiB with .dev's 47 MiB),
# the H200 runs of 2026-12-04 moved src/semclip/shipped, docs and benchmarks/results (all but
# gpu_fill_cpu.json, which --against reads) out of the checkout for the call: none is read here.
set -u
OUT=${OUT:-/tmp/device-out}
PY=${PY:-python3} DEVICE=${DEVICE:-cuda}  # a dry run here: PY=.venv/bin/python DEVICE=cpu WHEELS=0
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 SEMCLIP_CACHE=/tmp/semclip-cache SEMCLIP_DATA=/tmp/semclip-data
log="$OUT/device_run.log"
[ "${WHEELS:-1}" = 0 ] || $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dev/whl/*.whl >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
$PY scripts/device_pack.py unpack --src .dev --site /tmp/site --data "$SEMCLIP_DATA" >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a "$log"
nproc | tee -a "$log"

ONLY=" $* "  # stage names given as arguments: run only those
stage() {  # stage NAME SECONDS COMMAND...: the command's output to the log, its end to the screen
    local name=$1 limit=$2; shift 2
    [ "$ONLY" = "  " ] || [[ "$ONLY" == *" $name "* ]] || return 0
    [ "$ONLY" != "  " ] || [ "$name" != training ] || return 0  # training: gpu_fill's training parts again, when named
    local t0=$SECONDS
    echo "== $name (limit ${limit}s)" | tee -a "$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    echo "== $name: exit $? after $((SECONDS - t0)) s" | tee -a "$log"
}

stage draw 60 $PY benchmarks/gpu_fill.py --device "$DEVICE" --parts draw --jpeg-dir /tmp/jpeg
stage gpu_fill 270 $PY benchmarks/gpu_fill.py --device "$DEVICE" --jpeg-dir /tmp/jpeg \
    --against benchmarks/results/gpu_fill_cpu.json --out "$OUT/gpu_fill_cuda.json"
stage paper_scale 180 $PY benchmarks/paper_scale.py --device "$DEVICE" --minutes 2 --images-from folder:/tmp/jpeg \
    --out "$OUT/paper_scale_cuda.json"
stage bf16_cost 90 $PY benchmarks/bf16_cost.py --device "$DEVICE" --datasets fashion-mnist:test --out "$OUT/bf16_cost_cuda.json"
stage training 150 $PY benchmarks/gpu_fill.py --device "$DEVICE" --parts codec,prompts \
    --against benchmarks/results/gpu_fill_cpu.json --out "$OUT/gpu_fill_training_cuda.json"
stage gpu_syncs 60 $PY benchmarks/gpu_syncs.py --out "$OUT/gpu_syncs.json"
grep -v "━" "$log" | grep -E '^\{|^==|Error|error' | tail -60
