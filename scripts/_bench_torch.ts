/**
 * What the benchmarks share about their PyTorch peers: finding a Python with torch, running a peer
 * script for its one JSON line, and judging the BLAS it ran on.
 *
 * @module
 */

/** Finds a Python that imports torch: `explicit`, or /usr/bin/python3, then python3. */
export async function findTorchPython(explicit: string): Promise<string | undefined> {
  for (const py of explicit ? [explicit] : ["/usr/bin/python3", "python3"]) {
    try {
      const { success } = await new Deno.Command(py, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return py;
    } catch { /* not installed */ }
  }
  return undefined;
}

/** Whether this Python's torch sees a CUDA device. */
export async function hasCuda(py: string): Promise<boolean> {
  const { success, stdout } = await new Deno.Command(py, {
    args: ["-c", "import torch; print(torch.cuda.is_available())"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return success && new TextDecoder().decode(stdout).trim() === "True";
}

/** Runs one peer command; its last stdout line is its JSON result, or the reason it failed. */
export async function runPeer<T>(label: string, cmd: string, args: string[]): Promise<T | string> {
  let out;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    return `${label} could not start: ${(e as Error).message}`;
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (out.success && text.startsWith("{")) return JSON.parse(text) as T;
  const err = new TextDecoder().decode(out.stderr).trim().split("\n").filter(Boolean).pop();
  return `${label} failed: ${err ?? `exit ${out.code}`}`;
}

/**
 * Why a CPU peer's speed does not count, or undefined when it does: its `blas` field (from
 * scripts/bench_torch.py) must name an optimised BLAS. On Debian, python3-torch alone brings the
 * reference BLAS, about 20x slower than OpenBLAS for the products.
 */
export function slowBlas(blas: unknown): string | undefined {
  const text = String(blas ?? "");
  if (/openblas|mkl|blis|accelerate|cuda/i.test(text) && !/generic|reference/i.test(text)) {
    return undefined;
  }
  return `PyTorch ran on the BLAS "${
    text || "unknown"
  }", not an optimised one: its speed and the ` +
    `ratio do not count (apt-get install -y libopenblas0-pthread)`;
}
