/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian data. Reading never executes
 * anything and bounds-checks every tensor against the file.
 *
 * @module
 */

/** One tensor of a safetensors file, as f32 (F32) or i32 (I32) values. */
export interface NamedArray {
  /** Element type. */
  dtype: "F32" | "I32";
  /** Shape. */
  shape: number[];
  /** Values, row-major. */
  data: Float32Array | Int32Array;
}

/** Raised for a file that is not valid safetensors. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Serialises tensors (in the given order) with optional string metadata. */
export function encodeSafetensors(
  tensors: Map<string, NamedArray> | Record<string, NamedArray>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new SafetensorsError(`${name}: shape [${t.shape}] does not hold ${t.data.length}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Parsed safetensors: tensors by name and the metadata. */
export interface Safetensors {
  /** The tensors by name. */
  tensors: Map<string, NamedArray>;
  /** The header's `__metadata__`. */
  metadata: Record<string, string>;
  /**
   * Tensors of other dtypes (BOOL, U8, F64, ...), bounds-checked but not read: their dtype by name
   * (Hugging Face GPT-2 files may carry `attn.bias` masks, which nothing here needs).
   */
  skipped: Map<string, string>;
}

/** Bytes per element of the safetensors dtypes. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
};

/** An f16 or bf16 tensor's values, widened (exactly) to f32. */
function widen(raw: Uint8Array, dtype: "F16" | "BF16"): Float32Array {
  const n = raw.length / 2;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  if (dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  for (let i = 0; i < n; i++) {
    const h = view.getUint16(2 * i, true);
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    out[i] = exp === 0
      ? sign * frac * 2 ** -24
      : exp === 31
      ? (frac ? NaN : sign * Infinity)
      : sign * (1024 + frac) * 2 ** (exp - 25);
  }
  return out;
}

/**
 * Parses safetensors bytes; `source` names the file in errors. F32 and I32 tensors are read as
 * they are, F16 and BF16 widened to F32 (exactly); other dtypes are listed in `skipped`.
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${source}: ${why}: the file is damaged; re-create it`);
  };
  if (bytes.length < 8) fail("shorter than the 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8 || headerLen > 100_000_000) {
    fail(`header length ${headerLen} exceeds the file size ${bytes.length}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    return fail("the header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, NamedArray>();
  const skipped = new Map<string, string>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = raw as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = DTYPE_BYTES[info.dtype as string];
    if (typeof info.dtype !== "string" || size === undefined) {
      fail(`tensor ${name} has an unknown dtype ${JSON.stringify(info.dtype)}`);
    }
    const shape = info.shape;
    if (
      !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)
    ) fail(`tensor ${name} has an invalid shape`);
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d)) ||
      offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLen
    ) fail(`tensor ${name} has data offsets ${JSON.stringify(offs)} outside the data`);
    const [begin, end] = offs as [number, number];
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== n * size) fail(`tensor ${name}: ${end - begin} bytes for shape [${shape}]`);
    const dtype = info.dtype as string;
    if (dtype === "F16" || dtype === "BF16") {
      const data = widen(bytes.subarray(dataStart + begin, dataStart + end), dtype);
      tensors.set(name, { dtype: "F32", shape: shape as number[], data });
    } else if (dtype === "F32" || dtype === "I32") {
      const copy = bytes.slice(dataStart + begin, dataStart + end);
      tensors.set(name, {
        dtype,
        shape: shape as number[],
        data: dtype === "F32" ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer),
      });
    } else skipped.set(name, dtype);
  }
  return { tensors, metadata, skipped };
}
