/**
 * Runs a project script in a child process, for end-to-end tests.
 *
 * @module
 */

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
