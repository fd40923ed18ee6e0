/**
 * Runs a project script in a child process, for end-to-end tests.
 *
 * @module
 */

import { saveCheckpoint } from "../model/checkpoint.ts";
import type { GptConfig } from "../model/config.ts";
import { initialParameters } from "../model/gpt.ts";
import { buildTokenizer, type Tokenizer } from "../data/tokenizer.ts";

/** Options of {@linkcode tinyCheckpoint}. */
export interface TinyCheckpointOptions {
  /** Default: the byte tokenizer. */
  tokenizer?: Tokenizer;
  /** Default 48. */
  context?: number;
  /** Seed of the initial weights (default 3). */
  seed?: number;
  /** state.json (default `{ stage: "sft" }`). */
  state?: Record<string, unknown>;
  /** Also write zero AdamW moments. */
  optimizer?: boolean;
}

/**
 * Writes a tiny untrained checkpoint (1 layer, 2 heads, width 32) at `path`, as a stage would,
 * for tests that need an input model; returns its config and weights.
 */
export async function tinyCheckpoint(
  path: string,
  options: TinyCheckpointOptions = {},
): Promise<{ config: GptConfig; params: Map<string, Float32Array> }> {
  const tokenizer = options.tokenizer ?? buildTokenizer("bytes");
  const config: GptConfig = {
    vocabSize: tokenizer.vocabSize,
    context: options.context ?? 48,
    layers: 1,
    heads: 2,
    width: 32,
  };
  const params = initialParameters(config, options.seed ?? 3);
  const zeros = () => new Map([...params].map(([k, v]) => [k, new Float32Array(v.length)]));
  await saveCheckpoint(path, {
    config,
    tokenizer: tokenizer.spec as unknown as Record<string, unknown>,
    params,
    optimizer: options.optimizer ? { m: zeros(), v: zeros() } : undefined,
    state: options.state ?? { stage: "sft" },
  });
  return { config, params };
}

/** What a child run printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Runs `deno run -A <script> ...args` from the project root. */
export async function runScript(
  script: string,
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: ROOT,
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Flags of a tiny, fast pretraining run. */
export const TINY = [
  "--layers",
  "1",
  "--width",
  "32",
  "--heads",
  "2",
  "--context",
  "32",
  "--batch",
  "4",
  "--eval-batches",
  "1",
  "--sample-tokens",
  "4",
  "--quiet",
];

/** Every path under `dir` (relative, sorted, folders with a trailing "/"); [] when it is missing. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(rel ? `${dir}/${rel}` : dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      out.push(e.isDirectory ? `${path}/` : path);
      if (e.isDirectory) walk(path);
    }
  };
  walk("");
  return out.sort();
}

/** A refused run: exit code 2 and exactly one line on stderr, `error: ...` matching `pattern`. */
export function refusal(r: RunResult, pattern: RegExp): string | undefined {
  const lines = r.stderr.trim().split("\n");
  if (r.code !== 2) return `exit code ${r.code}, not 2:\n${r.stderr}`;
  if (lines.length !== 1) return `${lines.length} lines on stderr, not 1:\n${r.stderr}`;
  if (!/^error: /.test(lines[0])) return `no "error: " in ${lines[0]}`;
  if (!pattern.test(lines[0])) return `${lines[0]}\ndoes not match ${pattern}`;
  return undefined;
}

/** Runs `fn` over `items`, `n` at a time; resolves with the results in order. */
export async function pool<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** The JSON records (one per line) of a metrics file written by a running stage; missing: none. */
export async function records(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trim().split("\n").filter((l) => l.startsWith("{")).flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return []; // a line being written
    }
  });
}
