// Checks that the PyTorch reference fixture (tests/reference/gpt_reference.py) is a well-formed
// safetensors file holding what the model tests expect. No GPU needed.

const FIXTURE = new URL("./fixtures/gpt_tiny.safetensors", import.meta.url);

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

interface Parsed {
  metadata: Record<string, string>;
  entries: Map<string, Entry>;
  /** The data area (everything after the header). */
  data: Uint8Array;
  headerLength: number;
}

function fail(message: string): never {
  throw new Error(message);
}

function check(ok: boolean, message: string): void {
  if (!ok) fail(message);
}

function parse(bytes: Uint8Array): Parsed {
  check(bytes.length >= 8, "File is shorter than the 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  check(8 + n <= bytes.length, `Header length ${n} runs past the end of the file`);
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  const json = JSON.parse(text) as Record<string, unknown>;
  const metadata = (json.__metadata__ ?? {}) as Record<string, string>;
  const entries = new Map<string, Entry>();
  for (const [name, value] of Object.entries(json)) {
    if (name !== "__metadata__") entries.set(name, value as Entry);
  }
  return { metadata, entries, data: bytes.subarray(8 + n), headerLength: n };
}

function f32(p: Parsed, name: string): Float32Array {
  const e = p.entries.get(name) ?? fail(`Missing tensor ${name}`);
  const [b, end] = e.data_offsets;
  return new Float32Array(p.data.slice(b, end).buffer);
}

function i32(p: Parsed, name: string): Int32Array {
  const e = p.entries.get(name) ?? fail(`Missing tensor ${name}`);
  const [b, end] = e.data_offsets;
  return new Int32Array(p.data.slice(b, end).buffer);
}

/** Expected parameter names and shapes (Hugging Face GPT-2 layout, Conv1D weights (in, out)). */
function parameterShapes(V: number, P: number, L: number, C: number): [string, number[]][] {
  const out: [string, number[]][] = [
    ["transformer.wte.weight", [V, C]],
    ["transformer.wpe.weight", [P, C]],
  ];
  for (let i = 0; i < L; i++) {
    const h = `transformer.h.${i}.`;
    out.push(
      [h + "ln_1.weight", [C]],
      [h + "ln_1.bias", [C]],
      [h + "attn.c_attn.weight", [C, 3 * C]],
      [h + "attn.c_attn.bias", [3 * C]],
      [h + "attn.c_proj.weight", [C, C]],
      [h + "attn.c_proj.bias", [C]],
      [h + "ln_2.weight", [C]],
      [h + "ln_2.bias", [C]],
      [h + "mlp.c_fc.weight", [C, 4 * C]],
      [h + "mlp.c_fc.bias", [4 * C]],
      [h + "mlp.c_proj.weight", [4 * C, C]],
      [h + "mlp.c_proj.bias", [C]],
    );
  }
  out.push(["transformer.ln_f.weight", [C]], ["transformer.ln_f.bias", [C]]);
  return out;
}

Deno.test("reference fixture is well-formed safetensors with the expected tensors", async () => {
  const p = parse(await Deno.readFile(FIXTURE));
  check((8 + p.headerLength) % 8 === 0, "Data area is not 8-byte aligned");

  const cfg = (k: string) => {
    const v = p.metadata[k] ?? fail(`Missing metadata ${k}`);
    return JSON.parse(v) as number;
  };
  const V = cfg("vocab_size"), P = cfg("n_positions"), L = cfg("n_layer");
  const NH = cfg("n_head"), C = cfg("n_embd"), B = cfg("B"), T = cfg("T");
  check(V === 97 && P === 16 && L === 2 && NH === 4 && C === 32, "Unexpected model config");
  check(B === 3 && T === 13, "Unexpected batch shape");
  for (const k of ["lr", "betas", "eps", "weight_decay", "grad_clip"]) {
    check(k in p.metadata, `Missing metadata ${k}`);
  }
  check(JSON.stringify(JSON.parse(p.metadata.betas)) === "[0.9,0.95]", "Unexpected betas");

  const expected = new Map<string, [string, number[]]>();
  const params = parameterShapes(V, P, L, C);
  for (const [n, s] of params) expected.set(n, ["F32", s]);
  expected.set("inputs", ["I32", [B, T]]);
  expected.set("targets", ["I32", [B, T]]);
  expected.set("logits", ["F32", [B, T, V]]);
  expected.set("loss", ["F32", [1]]);
  for (const [n, s] of params) expected.set("grad." + n, ["F32", s]);
  expected.set("weights", ["F32", [B, T]]);
  expected.set("wloss", ["F32", [1]]);
  for (const [n, s] of params) expected.set("wgrad." + n, ["F32", s]);
  expected.set("losses", ["F32", [10]]);
  expected.set("grad_norms", ["F32", [10]]);
  check(!p.entries.has("lm_head.weight"), "The tied LM head must not be stored");

  for (const [name, [dtype, shape]] of expected) {
    const e = p.entries.get(name) ?? fail(`Missing tensor ${name}`);
    check(e.dtype === dtype, `${name}: dtype ${e.dtype}, expected ${dtype}`);
    check(
      JSON.stringify(e.shape) === JSON.stringify(shape),
      `${name}: shape ${JSON.stringify(e.shape)}, expected ${JSON.stringify(shape)}`,
    );
    const count = shape.reduce((a, b) => a * b, 1);
    const [b, end] = e.data_offsets;
    check(end - b === 4 * count, `${name}: ${end - b} bytes for ${count} elements`);
  }
  for (const name of p.entries.keys()) check(expected.has(name), `Unexpected tensor ${name}`);

  // The data offsets tile the data area exactly: no gap, no overlap, nothing left over.
  const spans = [...p.entries.values()].map((e) => e.data_offsets).sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [b, end] of spans) {
    check(b === at && end >= b, `Data offsets [${b}, ${end}] do not continue at ${at}`);
    at = end;
  }
  check(at === p.data.length, `Data offsets end at ${at}, the data area has ${p.data.length}`);

  // A few sanity checks on the values.
  for (const name of ["inputs", "targets"]) {
    for (const v of i32(p, name)) check(v >= 0 && v < V, `${name}: token ${v} out of range`);
  }
  const w = f32(p, "weights");
  const zeros = w.filter((v) => v === 0).length;
  check(zeros > 0 && zeros < w.length / 2, `weights: ${zeros} zeros of ${w.length}`);
  check(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-5, "weights do not sum to 1");
  for (const [name, t] of p.entries) {
    if (t.dtype !== "F32") continue;
    for (const v of f32(p, name)) check(Number.isFinite(v), `${name}: non-finite value ${v}`);
  }
  const loss = f32(p, "loss")[0];
  check(Math.abs(loss - Math.log(V)) < 0.5, `loss ${loss} is far from ln V`);
  const losses = f32(p, "losses");
  check(losses[0] === loss, "The first step loss differs from loss");
  check(losses[9] < losses[0], "Training did not lower the loss");
});
