/**
 * Command-line flags for stages and scripts: one typed schema of defaults that every flag overrides,
 * help text, range checks, and one-line errors with exit code 2. The parser behind it is
 * `node:util`'s `parseArgs`; switching to `@std/cli` is a change to this file alone.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One flag: its default decides its type. */
export interface FlagSpec<T extends number | string | boolean> {
  default: T;
  help: string;
  /** Numbers: smallest allowed value. */
  min?: number;
  /** Numbers: largest allowed value. */
  max?: number;
  /** Numbers: must be an integer. */
  int?: boolean;
  /** Numbers: must be strictly greater than `min`. */
  exclusiveMin?: boolean;
  /** Strings: allowed values. */
  choices?: readonly string[];
}

/** A schema: flag name (kebab-case) → spec. */
export type Schema = Record<string, FlagSpec<number> | FlagSpec<string> | FlagSpec<boolean>>;

/** Parsed values, typed from the schema. */
export type Values<S extends Schema> = { [K in keyof S]: S[K]["default"] };

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Builds the help text of a schema. */
export function helpText(usage: string, schema: Schema): string {
  const lines = [usage, "", "Options:"];
  for (const [name, spec] of Object.entries(schema)) {
    const def = typeof spec.default === "boolean"
      ? ""
      : ` (default: ${spec.default === "" ? '""' : spec.default})`;
    lines.push(`  --${name.padEnd(18)} ${spec.help}${def}`);
  }
  lines.push(`  --${"help".padEnd(18)} Show this help`);
  return lines.join("\n");
}

/**
 * Parses `args` against `schema`. Unknown flags, malformed numbers, values out of range and
 * positional arguments throw a UsageError naming the flag. `--help` prints help and exits 0.
 */
export function parseFlags<S extends Schema>(
  args: string[],
  schema: S,
  usage: string,
): Values<S> {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [name, spec] of Object.entries(schema)) {
    options[name] = { type: typeof spec.default === "boolean" ? "boolean" : "string" };
  }
  // `--lr -1`, `--sft-args "--steps 4"`: a value that starts with "-" but is no flag of the schema
  // is joined to its flag, so that range checks (not the parser) answer.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    const next = args[i + 1];
    const nextIsFlag = next !== undefined && /^--?[a-z][\w-]*$/i.test(next) &&
      (next.replace(/^-+/, "") in options);
    if (
      name in schema && options[name].type === "string" && next !== undefined &&
      next.startsWith("-") && !nextIsFlag
    ) {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else joined.push(args[i]);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joined, options, strict: true, allowPositionals: false });
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0]
      .replace(/^Unknown option '(.*)'.*/, "unknown flag $1")
      .replace(
        /^Option '(--[\w-]+)(?: <value>)?' argument (is ambiguous|missing).*/,
        "$1 needs a value",
      );
    throw new UsageError(`${msg}: see --help for the flags`);
  }
  if (parsed.values.help) {
    console.log(helpText(usage, schema));
    Deno.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const raw = parsed.values[name];
    if (raw === undefined) {
      out[name] = spec.default;
      continue;
    }
    if (typeof spec.default === "boolean") {
      out[name] = raw;
    } else if (typeof spec.default === "number") {
      const s = spec as FlagSpec<number>;
      const v = Number(raw);
      if (String(raw).trim() === "" || !Number.isFinite(v)) {
        throw new UsageError(`--${name} must be a number, got "${raw}"`);
      }
      if (s.int && !Number.isInteger(v)) {
        throw new UsageError(`--${name} must be an integer, got ${raw}`);
      }
      if (s.min !== undefined && (v < s.min || (s.exclusiveMin && v === s.min))) {
        throw new UsageError(
          `--${name} must be ${s.exclusiveMin ? ">" : ">="} ${s.min}, got ${raw}`,
        );
      }
      if (s.max !== undefined && v > s.max) {
        throw new UsageError(`--${name} must be <= ${s.max}, got ${raw}`);
      }
      out[name] = v;
    } else {
      const s = spec as FlagSpec<string>;
      if (s.choices && !s.choices.includes(raw as string)) {
        throw new UsageError(`--${name} must be one of ${s.choices.join(", ")}, got "${raw}"`);
      }
      out[name] = raw;
    }
  }
  return out as Values<S>;
}

/** Error classes whose message is a complete one-line explanation (printed without a stack). */
const EXPECTED = new Set([
  "UsageError",
  "ConfigError",
  "CheckpointError",
  "DataError",
  "GpuError",
  "SafetensorsError",
  "RangeError",
]);

/** The first line of an error message, with a count of the lines left out. */
function oneLine(message: string): string {
  const lines = message.split("\n").filter((l) => l.trim() !== "");
  return lines.length <= 1 ? lines[0] ?? "" : `${lines[0]} (and ${lines.length - 1} more like it)`;
}

/**
 * Runs a script's main function: expected errors print one line (`error: ...`) and exit 2;
 * anything else prints its stack and exits 1.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    if (EXPECTED.has(err?.name) || /^(Shard|Tokenizer|Data|World)/.test(err?.name ?? "")) {
      console.error(`error: ${oneLine(err.message)}`);
      Deno.exit(2);
    }
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      console.error(`error: ${oneLine(err.message)}`);
      Deno.exit(2);
    }
    console.error(err?.stack ?? String(err));
    Deno.exit(1);
  }
}

/**
 * Checks, before any work, that a checkpoint can be written at `out`: the nearest existing
 * directory on its path must be writable (nothing is created); throws a UsageError naming the flag
 * otherwise.
 */
export async function checkWritable(out: string, flag = "--out"): Promise<void> {
  let dir = out.replace(/\/+$/, "");
  for (;;) {
    dir = dir.includes("/") ? dir.replace(/\/[^/]*$/, "") || "/" : ".";
    try {
      if ((await Deno.stat(dir)).isDirectory) break;
      throw new UsageError(`${flag} ${out}: ${dir} is not a directory: choose another ${flag}`);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      if (dir === "/" || dir === ".") break;
    }
  }
  const probe = `${dir}/.instructgpu-write-test-${Deno.pid}`;
  try {
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    throw new UsageError(
      `${flag} ${out}: cannot write to ${dir} (${(e as Error).message.replace(/:.*$/, "")}): ` +
        `choose another ${flag}`,
    );
  }
}

/**
 * Refuses a gzip-compressed file where plain text is read (`flag` names where it came from):
 * throws a UsageError telling to decompress it. Missing or unreadable files pass (the reader
 * reports them).
 */
export async function refuseGzip(path: string, flag: string): Promise<void> {
  let head: Uint8Array;
  try {
    const file = await Deno.open(path, { read: true });
    try {
      if (!(await file.stat()).isFile) return;
      head = new Uint8Array(2);
      if ((await file.read(head)) !== 2) return;
    } finally {
      file.close();
    }
  } catch {
    return;
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    throw new UsageError(
      `${flag} ${path} is gzip-compressed, and this stage reads plain text: decompress it ` +
        `(gunzip) and pass the result`,
    );
  }
}

/** `path` and those of its parent folders that do not exist yet, deepest first. */
export async function missingFolders(path: string): Promise<string[]> {
  const out: string[] = [];
  for (let p = path.replace(/\/+$/, ""); p !== "" && p !== "." && p !== "/";) {
    if (await Deno.stat(p).then(() => true, () => false)) break;
    out.push(p);
    p = p.includes("/") ? p.replace(/\/[^/]*$/, "") : "";
  }
  return out;
}

/**
 * The settings of a single-file script: `defaults`, each overridden by an argument
 * `--name=value` (a number where the default is one, `true`/`false` for a boolean). An unknown
 * name or a malformed value is a UsageError naming it.
 *
 * @example
 * ```ts
 * import { configure } from "./cli.ts";
 *
 * const config = configure({ steps: 30, lr: 1e-4, out: "" }, ["--steps=5"]);
 * console.log(config.steps); // 5
 * ```
 */
export function configure<T extends Record<string, string | number | boolean>>(
  defaults: T,
  args: readonly string[] = Deno.args,
): T {
  const out: Record<string, string | number | boolean> = { ...defaults };
  for (const arg of args) {
    const m = /^--([\w-]+)=(.*)$/s.exec(arg);
    if (!m || !(m[1] in defaults)) {
      throw new UsageError(
        `${arg}: expected --name=value with a name among ${Object.keys(defaults).join(", ")}`,
      );
    }
    const [, name, value] = m;
    const kind = typeof defaults[name];
    if (kind === "number") {
      const v = Number(value);
      if (value.trim() === "" || !Number.isFinite(v)) {
        throw new UsageError(`--${name} must be a number, got "${value}"`);
      }
      out[name] = v;
    } else if (kind === "boolean") {
      if (value !== "true" && value !== "false") {
        throw new UsageError(`--${name} must be true or false, got "${value}"`);
      }
      out[name] = value === "true";
    } else out[name] = value;
  }
  return out as T;
}
