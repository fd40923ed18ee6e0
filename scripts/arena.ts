/**
 * The arena: a local page that puts two anonymous checkpoints side by side on one prompt, collects
 * a person's vote, and keeps a leaderboard. The votes file is preference data for the reward model
 * and DPO (`deno task rlhf --stage rm --data votes.jsonl`).
 *
 *     deno task arena --checkpoints checkpoints/sft,checkpoints/rlhf [--port 8000]
 *         [--host 127.0.0.1] [--votes FILE]
 *
 * It prints `arena: http://HOST:PORT` once it serves. Ctrl-C (or SIGTERM) stops it: the requests
 * in flight end, every acknowledged vote is on disk, and it exits with code 0. A second Ctrl-C
 * quits at once (code 130), still after the votes being written.
 *
 * @module
 */
import { checkpointName, loadAnswerer } from "../arena/answer.ts";
import { Arena, serveArena } from "../arena/server.ts";
import { VoteLog } from "../arena/vote_log.ts";
import { checkWritable, parseFlags, runMain, UsageError } from "../stages/cli.ts";

const USAGE =
  "Usage: deno task arena --checkpoints DIR,DIR[,...] [--port 8000] [--host 127.0.0.1] " +
  "[--votes FILE]";
const FLAGS = {
  checkpoints: { default: "", help: "Checkpoint directories to compare, comma-separated (two+)" },
  port: {
    default: 8000,
    help: "Port to listen on (0: any free port)",
    min: 0,
    max: 65535,
    int: true,
  },
  host: {
    default: "127.0.0.1",
    help: "Address to listen on (another than loopback lets other machines vote)",
  },
  votes: { default: "", help: "Votes file (default: <first checkpoint's parent>/votes.jsonl)" },
  temperature: { default: 0.7, help: "The page's default temperature", min: 0, max: 2 },
  "max-tokens": {
    default: 80,
    help: "The page's default maximum tokens of an answer",
    min: 1,
    max: 512,
    int: true,
  },
};

/** The default votes file: `votes.jsonl` beside the first checkpoint. */
export function defaultVotesPath(firstCheckpoint: string): string {
  const dir = checkpointName(firstCheckpoint);
  const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) || "/" : ".";
  return `${parent === "/" ? "" : parent}/votes.jsonl`;
}

/** Runs the arena with the given command-line arguments until SIGINT or SIGTERM. */
export async function arena(args: string[]): Promise<void> {
  const f = parseFlags(args, FLAGS, USAGE);
  const dirs = f.checkpoints.split(",").map((d) => d.trim()).filter((d) => d !== "");
  if (dirs.length < 2) {
    throw new UsageError(
      `--checkpoints needs two or more checkpoint directories, comma-separated (got ${dirs.length})`,
    );
  }
  const names = dirs.map(checkpointName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`--checkpoints names ${twice} twice: list each checkpoint once`);
  const votesPath = f.votes || defaultVotesPath(dirs[0]);
  await checkWritable(votesPath, "--votes");
  const answerer = await loadAnswerer(dirs);
  let votes: VoteLog;
  try {
    votes = await VoteLog.open(votesPath);
  } catch (e) {
    answerer.close();
    throw e;
  }
  if (votes.note) console.log(`arena: ${votes.note}`);
  const served = answerer.checkpoints.map((c) => c.name).join(", ");
  console.log(
    `arena: ${dirs.length} checkpoints (${served}); ${votes.votes.length} votes in ${votes.path}`,
  );
  let server;
  try {
    const arena = new Arena({
      answerer,
      votes,
      temperature: f.temperature,
      maxTokens: f["max-tokens"],
    });
    server = await serveArena(arena, { hostname: f.host, port: f.port });
  } catch (e) {
    answerer.close();
    await votes.close();
    const where = `${f.host}:${f.port}`;
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`port ${f.port} on ${f.host} is in use: pass another --port`);
    }
    throw new UsageError(
      `cannot listen on ${where} (${(e as Error).message}): pass another --host or --port`,
    );
  }
  console.log(`arena: ${server.url}`);
  // The first signal stops gracefully; a second one quits at once, once the votes being written
  // are on disk.
  const stopped = Promise.withResolvers<string>();
  let stopping = false;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => {
    const fn = () => {
      if (stopping) void votes.close().finally(() => Deno.exit(130));
      stopping = true;
      stopped.resolve(s);
    };
    Deno.addSignalListener(s, fn);
    return [s, fn] as const;
  });
  const signal = await stopped.promise;
  console.log(`arena: ${signal}: stopping`);
  await server.shutdown();
  for (const [s, fn] of listeners) Deno.removeSignalListener(s, fn);
  answerer.close();
  console.log(`arena: stopped; ${votes.votes.length} votes in ${votes.path}`);
}

if (import.meta.main) {
  await runMain(async () => {
    await arena(Deno.args);
    Deno.exit(0);
  });
}
