/**
 * Chats with a checkpoint through the chat template, streaming tokens as they are generated.
 *
 *     deno task chat --checkpoint checkpoints/sft                 # interactive; Ctrl-D quits
 *     deno task chat --checkpoint checkpoints/sft --prompt "Give 3 tips for better sleep"
 *
 * Every message is answered alone, in the single-turn template that SFT trains on: the models here
 * never see a conversation in training, and earlier turns in front of a prompt derail them.
 * `/history on` (or `--history`) keeps the conversation instead, as earlier Instruction/Response
 * turns; when it no longer fits the context (leaving room for the answer), the oldest turns are
 * dropped. `/history off` goes back to single messages, `/reset` clears the history, `/quit` (or
 * end of input) exits. Input may be piped: one message a line.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { encodeConversation, INSTRUCTION_HEADER, type Turn } from "../data/template.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { loadModel } from "../model/checkpoint.ts";
import { Decoder, STREAMING_TOKENS_PER_SUBMIT } from "../model/decode.ts";
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";

const USAGE = "Usage: deno task chat [--checkpoint DIR] [--prompt TEXT] [options]";
const FLAGS = {
  checkpoint: { default: "checkpoints/sft", help: "Checkpoint directory" },
  prompt: { default: "", help: "Answer this one message and exit (empty: interactive)" },
  tokens: { default: 128, help: "Maximum tokens of a response", min: 1, int: true },
  temperature: { default: 0.7, help: "Sampling temperature (0: greedy)", min: 0 },
  "top-k": { default: 40, help: "Keep the k most likely tokens (0: all)", min: 0, int: true },
  "top-p": { default: 1, help: "Nucleus sampling threshold", min: 0, max: 1, exclusiveMin: true },
  seed: { default: 1337, help: "Sampling seed", min: 0, int: true },
  history: {
    default: false,
    help: "Keep the conversation in the prompt (off: each message is answered alone, as trained)",
  },
};

/** What a `/history` command asks for: true (on), false (off), or undefined (not the command). */
export function historyCommand(message: string): boolean | undefined {
  const m = /^\/history(?:\s+(on|off))?$/.exec(message);
  return m ? m[1] !== "off" : undefined;
}

/** The marker after which a continuation is no longer the response (a new turn begins). */
const STOP_MARKER = INSTRUCTION_HEADER.trim();

/**
 * The prompt ids of `turns` (the last one being asked) that leave `reserve` tokens for the answer
 * in a `context`-token window: the oldest turns are dropped first, then the start of the prompt.
 * Returns the ids and the number of turns kept.
 */
export function fitConversation(
  tokenizer: Tokenizer,
  turns: readonly Turn[],
  context: number,
  reserve: number,
): { ids: number[]; kept: number } {
  const budget = Math.max(1, context - reserve);
  for (let first = 0; first < turns.length; first++) {
    const ids = encodeConversation(tokenizer, turns.slice(first));
    if (ids.length <= budget || first === turns.length - 1) {
      return { ids: ids.slice(-budget), kept: turns.length - first };
    }
  }
  return { ids: [], kept: 0 };
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
function partialMarker(text: string, marker: string): number {
  for (let k = Math.min(marker.length - 1, text.length); k > 0; k--) {
    if (text.endsWith(marker.slice(0, k))) return k;
  }
  return 0;
}

/** Lines of a byte stream (the last one even without a newline). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/** Runs the chat with the given command-line arguments. */
export async function chat(args: string[]): Promise<void> {
  const f = parseFlags(args, FLAGS, USAGE);
  const gpu = await getGpu();
  const { gpt, tokenizer } = await loadModel(gpu, f.checkpoint);
  const generator = new Decoder(gpt);
  const rng = new Rng(f.seed);
  const context = gpt.config.context;
  const reserve = Math.min(f.tokens, Math.floor(context / 2));
  const enc = new TextEncoder();
  const write = (s: string) => {
    if (s) Deno.stdout.writeSync(enc.encode(s));
  };

  /** Streams the answer to the last turn; returns its text (the response, trimmed). */
  const answer = async (turns: Turn[]): Promise<{ text: string; kept: number }> => {
    const { ids, kept } = fitConversation(tokenizer, turns, context, reserve);
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let text = "", shown = 0;
    const options = {
      maxTokens: f.tokens,
      temperature: f.temperature,
      topK: f["top-k"],
      topP: f["top-p"],
      seed: rng.nextU32(),
      stopToken: tokenizer.eot,
      tokensPerSubmit: STREAMING_TOKENS_PER_SUBMIT,
    };
    reading: for await (const chunk of generator.stream([ids], options)) {
      for (const id of chunk.tokens[0]) {
        if (id === tokenizer.eot) break reading;
        text += decoder.decode(tokenizer.decodeBytes([id]), { stream: true });
        const stop = text.indexOf(STOP_MARKER);
        if (stop >= 0) {
          text = text.slice(0, stop);
          break reading;
        }
        // Hold back trailing white space and what may be the start of the stop marker.
        const safe = text.slice(0, text.length - partialMarker(text, STOP_MARKER)).trimEnd().length;
        if (safe > shown) {
          write(text.slice(shown, safe));
          shown = safe;
        }
      }
    }
    text += decoder.decode();
    write(text.slice(shown).trimEnd());
    write("\n");
    return { text: text.trim(), kept };
  };

  if (f.prompt !== "") {
    if (f.prompt.trim() === "") throw new UsageError("--prompt is blank: give a message");
    await answer([{ instruction: f.prompt }]);
    return;
  }

  const tty = Deno.stdin.isTerminal();
  let keepHistory = f.history;
  if (tty) {
    console.log(
      `chat with ${f.checkpoint} (context ${context} tokens): each message is answered ` +
        `${keepHistory ? "with the conversation before it" : "alone"} (/history on|off), ` +
        `/reset clears the history, Ctrl-D quits`,
    );
  }
  let history: Turn[] = [];
  if (tty) write("> ");
  for await (const line of lines(Deno.stdin.readable)) {
    const message = line.trim();
    const toggle = historyCommand(message);
    if (message === "/quit" || message === "/exit") return;
    if (message === "/reset" || toggle !== undefined) {
      history = [];
      keepHistory = toggle ?? keepHistory;
      if (tty) {
        console.log(
          toggle === undefined
            ? "(history cleared)"
            : `(history ${keepHistory ? "on: the conversation is kept" : "off"})`,
        );
      }
    } else if (message !== "") {
      const turns = [...history, { instruction: message }];
      const { text, kept } = await answer(turns);
      turns[turns.length - 1].response = text;
      history = keepHistory ? turns.slice(turns.length - kept) : [];
    }
    if (tty) write("> ");
  }
  if (tty) write("\n");
}

if (import.meta.main) await runMain(() => chat(Deno.args));
