#!/usr/bin/env bash
# Every GPU check in one run (at most about 8 minutes), on a machine with an NVIDIA GPU, PyTorch
# with CUDA and no network:
#   1. the adapter, its limits and features;
#   2. matrix-product GFLOP/s on the GPT-2 124M shapes, as a fraction of the float32 peak, for
#      each kernel variant and setting (f16 tiles among them: does mixed precision pay here?),
#      after the fma and inner-loop ceilings of the toolchain;
#   3. `deno task bench` on GPT-2 124M (batch 8 x context 1024) against PyTorch on the same GPU
#      (float32 with TF32 off, and bfloat16 autocast for context), with the default kernels, and
#      ours alone with the fastest variant of step 2 if that is not the default, and ours alone
#      with flash attention (no T x T matrices: less memory; 0.55x the default's speed on an H100),
#      ours alone with f16 tiles in the products, and ours alone with the GELU fused into the
#      products (its speed decides the GPUs' default);
#   4. where the time of a GPT-2 124M step goes (scripts/profile.ts, GPU timestamps per op), with
#      the default attention and with flash attention;
#   5. `deno task bench` on the small config, and `deno task bench --decode` (greedy KV-cache
#      generation against PyTorch's, batch 1 and 64 x 128 tokens) on GPT-2 124M's shape and on the
#      small config;
#   6. the kernel tests and the PyTorch-reference model tests, on the GPU's own kernel variants
#      (last: if time runs out, the measurements are already there).
#
# Needs Deno, the npm packages of deno.json (node_modules), the Vulkan loader and, for NVIDIA's
# Vulkan driver on a machine without a display, the GLVND libraries: on a Debian machine with
# network, `apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2`
# into a folder, and on the GPU machine unpack them (`dpkg -x FILE /` each, then `ldconfig`) and
# `export VK_DRIVER_FILES=<the driver's nvidia_icd.json>` before running:
#     bash scripts/gpu_bench.sh [OUT_DIR]
# Without them `navigator.gpu.requestAdapter()` returns null and the script stops at step 1.
# Results go to OUT_DIR (default ./gpu-bench-out) in six files, since a lent GPU machine may return
# only a few: adapter.txt, gemm.log, bench.jsonl (one JSON result per benchmark, named by "run"),
# bench.log (the benchmarks' other output), profile.log and tests.log. The last lines are a summary.
set -uo pipefail
out=${1:-${OUT:-./gpu-bench-out}}
mkdir -p "$out"
work=$(mktemp -d) # each step's own log, before keep() files it in $out
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
# the first Python that has torch (the GPU machine's python3; Debian's python3-torch elsewhere)
py=python3
for cand in "$(command -v python3)" /usr/bin/python3; do
  if [ -n "$cand" ] && "$cand" -c "import torch" >/dev/null 2>&1; then py=$cand; break; fi
done
peak=${PEAK_TFLOPS:-66.9}
# QUICK=1: tiny sizes, to try the script itself on a CPU adapter
if [ "${QUICK:-0}" = 1 ]; then
  gemm_sizes=(--rows 512 --width 64 --vocab 1000)
  gpt2=(--gpt2 --vocab 2048 --layers 1 --context 128 --batch 2 --steps 2 --warmup 0)
  tests=(kernels/bmm_test.ts)
  profile=(--vocab 2048 --layers 1 --heads 12 --width 768 --context 128 --batch 2 --repeat 1)
  small=(--steps 2 --warmup 0 --rounds 1)
  decode=(--vocab 512 --layers 1 --heads 2 --width 64 --context 64 --prompt 8 --tokens 16 --rounds 1)
  decode_small=(--batches 1,4 --tokens 16 --rounds 1)
else
  gemm_sizes=()
  gpt2=(--gpt2 --steps 6 --warmup 1)
  tests=(kernels/ model/trainer_test.ts tests/gpt_reference_test.ts)
  profile=(--vocab 50257 --layers 12 --heads 12 --width 768 --context 1024 --batch 8 --repeat 1)
  small=(--steps 20)
  decode=(--vocab 50257 --layers 12 --heads 12 --width 768 --context 256)
  decode_small=()
fi

step() { echo; echo "=== $1 ($(date +%T))"; }
run() { # run LIMIT LOG CMD...: a step with a time limit; its output is kept (see keep)
  local limit=$1 log=$2
  shift 2
  timeout "$limit" "$@" 2>&1 | tee "$work/$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || echo "gpu_bench: '$*' ended with status $rc (limit ${limit}s)" | tee -a "$work/$log"
  keep "$log"
}
keep() { # files a step's log in $out as soon as the step ends (a later timeout loses nothing)
  case "$1" in
    bench_*.json)
      grep '^{' "$work/$1" | tail -n 1 | sed "s/^{/{\"run\":\"${1%.json}\",/" >> "$out/bench.jsonl"
      { echo "=== $1"; grep -v '^{' "$work/$1"; } >> "$out/bench.log" ;;
    profile*) { echo "=== $1"; cat "$work/$1"; } >> "$out/profile.log" ;;
    *) cp "$work/$1" "$out/$1" ;;
  esac
}

step "adapter"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/adapter.txt"
deno eval '
const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
const l = {};
for (const k in a.limits) l[k] = a.limits[k];
console.log(JSON.stringify({ info: a.info, features: [...a.features], limits: l }, null, 1));
' 2>&1 | tee -a "$out/adapter.txt"

if ! deno eval 'if (!(await navigator.gpu.requestAdapter())) Deno.exit(1);' >/dev/null 2>&1; then
  echo "gpu_bench: Deno finds no WebGPU adapter; the Vulkan loader says:"
  VK_LOADER_DEBUG=error,warn deno eval 'await navigator.gpu.requestAdapter();' 2>&1 | tail -n 20
  ls -la "${VK_DRIVER_FILES:-/usr/share/vulkan/icd.d}" 2>&1
  exit 1
fi

step "matrix products, GPT-2 124M shapes"
run 150 gemm.log deno run -A scripts/bench_gemm.ts "${gemm_sizes[@]}" --peak "$peak" --seconds 0.1 \
  --rounds 2 --probe --variants "${VARIANTS:-wide,wide:f16,wide:nopf,wide:bk8,wide:nosplit,wide:cols64}"
best=$(sed -n 's/^best //p' "$out/gemm.log" | tail -n 1)
best=${best:-default}
echo "gpu_bench: the fastest kernel over these products: $best" | tee -a "$out/gemm.log"
"$py" - <<'EOF' 2>&1 | tee -a "$out/gemm.log"
import sys, time, torch
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device: no PyTorch matrix-product rates")
torch.backends.cuda.matmul.allow_tf32 = False
for (m, n, k) in [(8192, 2304, 768), (8192, 3072, 768), (8192, 768, 3072), (8192, 50257, 768)]:
    a = torch.randn(m, k, device="cuda"); b = torch.randn(k, n, device="cuda")
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter(); r = 20
    for _ in range(r): a @ b
    torch.cuda.synchronize(); s = (time.perf_counter() - t) / r
    print(f"torch fp32 (no TF32) {m}x{n}x{k}: {2*m*n*k/s/1e9:.0f} GFLOP/s")
EOF

step "bench: GPT-2 124M, default kernels"
run 200 bench_gpt2.json deno run -A scripts/bench.ts "${gpt2[@]}" --json
if [ "$best" != wide ] && [ "$best" != default ] && [ "$best" != wide:f16 ]; then
  step "bench: GPT-2 124M, $best (ours only)"
  run 100 bench_gpt2_best.json deno run -A scripts/bench.ts "${gpt2[@]}" --json --gemm "$best" \
    --peers none
fi
step "bench: GPT-2 124M, flash attention (ours only)"
run 100 bench_gpt2_flash.json deno run -A scripts/bench.ts "${gpt2[@]}" --json --attention flash \
  --peers none
step "bench: GPT-2 124M, f16 tiles in the products (ours only; an experiment: no loss scaling)"
run 100 bench_gpt2_f16.json deno run -A scripts/bench.ts "${gpt2[@]}" --json --gemm wide:f16 \
  --peers none
step "bench: GPT-2 124M, GELU fused into the products (ours only)"
run 100 bench_gpt2_gelu.json deno run -A scripts/bench.ts "${gpt2[@]}" --json --fuse-gelu \
  --peers none
step "where the time of a GPT-2 124M step goes"
run 120 profile.log deno run -A scripts/profile.ts "${profile[@]}"
step "where the time of a GPT-2 124M step goes, flash attention"
run 90 profile_flash.log deno run -A scripts/profile.ts "${profile[@]}" --attention flash
step "bench: small config"
run 90 bench_small.json deno run -A scripts/bench.ts --json "${small[@]}"
step "bench: decode, GPT-2 124M's shape (random weights), batch 1 and 64 x 128 new tokens"
run 150 bench_decode_gpt2.json deno run -A scripts/bench.ts --decode --json "${decode[@]}"
step "bench: decode, the small config"
run 90 bench_decode_small.json deno run -A scripts/bench.ts --decode --json "${decode_small[@]}"

step "tests on the GPU"
run 150 tests.log deno test -A --no-check "${tests[@]}"

step "summary"
"$py" - "$out" <<'EOF'
import json, os, sys
path = os.path.join(sys.argv[1], "bench.jsonl")
results = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
done = {r["run"]: r for r in results}
for name in ("bench_gpt2", "bench_gpt2_best", "bench_gpt2_flash", "bench_gpt2_gelu", "bench_gpt2_f16",
             "bench_small"):
    if name not in done:
        print(f"{name}: no result")
        continue
    r = done[name]
    c = r["config"]
    mem = sum(r["memory_bytes"].values()) / 2**30
    print(f"{name}: {c['layers']}x{c['width']}, V {c['vocabSize']}, T {c['context']}, B {c['batch']}, "
          f"gemm {r['gemm']}, {r.get('attention', 'matrix')} attention, GELU {r.get('gelu', 'separate')}: ours {r['ours_tokens_per_s']} tok/s, {r['ours_gflops']} GFLOP/s, "
          f"{r['dispatches_per_step']} dispatches, memory {mem:.2f} GiB")
    for p in r["peers"]:
        print(f"   {p['name']}: {p['tokens_per_s']} tok/s, ours/peer {p['ratio']}, "
              f"losses match {p['losses_match']} (max diff {p['max_loss_diff']})")
    for m in r["failures"]:
        print("   note:", m)
for name in ("bench_decode_gpt2", "bench_decode_small"):
    if name not in done:
        print(f"{name}: no result")
        continue
    r = done[name]
    c = r["config"]
    print(f"{name}: {c['layers']}x{c['width']}, V {c['vocabSize']}, greedy decoding")
    for b in r["batches"]:
        print(f"   batch {b['batch']}: ours {b['ours_tokens_per_s']} tok/s, torch "
              f"{b['torch_tokens_per_s']} tok/s, ours/torch {b['ratio']}, tokens match {b['tokens_match']}")
    for m in r["failures"]:
        print("   note:", m)
EOF
grep -E "passed|failed" "$out/tests.log" | tail -n 1
grep -E "^probe|^all, time-weighted|^best|^torch fp32" "$out/gemm.log"
