#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one run (under 8 minutes on one H100 / H200), written to one file.
#
#   bash benchmarks/device_suite.sh [RESULTS_DIR]        # default: $OUT if set, else device_results/
#   SMOKE=1 bash benchmarks/device_suite.sh /tmp/smoke    # the same steps at toy sizes on the CPU (checks the script)
#
# 1. Generation, 7B-shaped model with random bf16 weights, one 1024-token image with CFG 3: batch 1 and 16,
#    sequential and speculative (Jacobi), eager and compiled (random weights: acceptance ~0, so the speculative rows
#    measure the cost of a verification forward, not a trained model's speed-up).
# 2. Training MFU of a 1B-class config (bf16, batch 8 x 4096).
# 3. A one-process FSDP run of the pretraining recipe (the tiny example config).
# Each step has its own time limit; a step that fails or runs out of time is recorded as such and the suite goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS_DIR="${1:-${OUT:-device_results}}"
PYTHON="${PYTHON:-python}"  # an environment with transformers-cm3leon installed (pip install -e .)
mkdir -p "$RESULTS_DIR"
LOG="$RESULTS_DIR/device_suite.log"
: > "$LOG"

if [[ "${SMOKE:-0}" == "1" ]]; then
  DEVICE=cpu; DTYPE=float32; PRESET=(); TOKENS=16; BATCHES=(1 2); TRAIN=(--size 25m --dtype float32 --batch-size 1 --seq-len 64 --rounds 1 --steps-per-round 1)
  LIMITS=(300 300 300)
else
  DEVICE=cuda; DTYPE=bfloat16; PRESET=(--preset cm3leon-7b); TOKENS=1024; BATCHES=(1 16); TRAIN=(--device cuda --size 1b --dtype bfloat16 --batch-size 8 --seq-len 4096 --rounds 3 --steps-per-round 2)
  LIMITS=(270 120 90)
fi

step() {  # step NAME LIMIT COMMAND...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*" | tee -a "$LOG"
  local started=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local status=$?
  echo "== $name: exit $status after $((SECONDS - started)) s" | tee -a "$LOG"
  echo "{\"step\": \"$name\", \"exit\": $status, \"seconds\": $((SECONDS - started))}" >> "$RESULTS_DIR/steps.jsonl"
}
rm -f "$RESULTS_DIR/steps.jsonl"
nvidia-smi --query-gpu=name,memory.total --format=csv >> "$LOG" 2>&1 || echo "no nvidia-smi" >> "$LOG"

step generation "${LIMITS[0]}" "$PYTHON" benchmarks/benchmark_generation.py --device "$DEVICE" --dtype "$DTYPE" "${PRESET[@]}" \
  --image-seq-length "$TOKENS" --batch-sizes "${BATCHES[@]}" --repeats 2 --skip-baseline --compile both --speculative \
  --json "$RESULTS_DIR/generation.json"

step training_mfu "${LIMITS[1]}" "$PYTHON" benchmarks/benchmark_training.py "${TRAIN[@]}" --blocks chameleon \
  --collator-seconds 0.5

FSDP_DIR="$(mktemp -d)"
(
  cd "$FSDP_DIR" && "$PYTHON" "$OLDPWD/examples/training/make_toy_data.py" > /dev/null
) && step fsdp_pretraining "${LIMITS[2]}" bash -c "cd '$FSDP_DIR' && accelerate launch --num_processes 1 \
  --use_fsdp --fsdp_version 2 --mixed_precision no -m transformers_cm3leon.training pretrain \
  --config '$OLDPWD/examples/training/pretrain_tiny.yaml' --max_steps 20 --output_dir '$FSDP_DIR/run'"

"$PYTHON" - "$RESULTS_DIR" <<'PY'
import json, os, re, sys
folder = sys.argv[1]
log = open(os.path.join(folder, "device_suite.log")).read()
results = {"steps": [json.loads(line) for line in open(os.path.join(folder, "steps.jsonl"))]}
path = os.path.join(folder, "generation.json")
results["generation"] = json.load(open(path)) if os.path.exists(path) else None
results["training"] = re.findall(r"^.*(?:tokens/s|MFU).*$", log, flags=re.M)
parts = log.split("== fsdp_pretraining")
results["fsdp_pretraining_log_tail"] = parts[1][-2000:] if len(parts) > 1 else None
with open(os.path.join(folder, "device_suite_results.json"), "w") as handle:
    json.dump(results, handle, indent=1)
print(f"wrote {os.path.join(folder, 'device_suite_results.json')}")
PY
