/**
 * Answers to prompts from checkpoints, streamed as text: the one interface through which the arena
 * (and the report's side-by-side answers) generate. {@linkcode loadAnswerer} implements it with
 * the token-by-token {@linkcode Sampler} of model/generate.ts.
 *
 * An answer is the response of the chat template (data/template.ts) to one instruction: it ends at
 * end-of-text, at a new `### Instruction:` (which is not shown), or after `maxTokens` tokens.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { formatPrompt, INSTRUCTION_HEADER } from "../data/template.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { CheckpointError, checkpointRunId, loadModel } from "../model/checkpoint.ts";
import { Sampler, sampleToken } from "../model/generate.ts";

/** How an answer is sampled. */
export interface AnswerSettings {
  /** 0: greedy. */
  temperature: number;
  /** Most tokens of the answer. */
  maxTokens: number;
  /** Keep the k most likely tokens (0: all). */
  topK: number;
  /** Nucleus sampling threshold (1: all). */
  topP: number;
  /** Seed of the sampling. */
  seed: number;
}

/** One answer to generate. */
export interface AnswerRequest {
  /** A checkpoint's name, as listed in {@linkcode Answerer.checkpoints}. */
  checkpoint: string;
  /** The instruction (raw text, without the template). */
  prompt: string;
  settings: AnswerSettings;
  /** Stops the generation: the answer then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A generated answer. */
export interface Answer {
  /** The response text, trimmed. */
  text: string;
  /** Tokens generated (end-of-text not counted). */
  tokens: number;
  /** It ended by itself (end-of-text or a new instruction), not at the token cap. */
  finished: boolean;
}

/** A checkpoint that can answer. */
export interface ServedCheckpoint {
  /** Its directory, as given (e.g. "checkpoints/sft"). */
  name: string;
  /** `run_id` of its state.json, null when it has none. */
  run: string | null;
  /** Its context length in tokens. */
  context: number;
}

/** Generates answers of named checkpoints. */
export interface Answerer {
  readonly checkpoints: readonly ServedCheckpoint[];
  /**
   * Generates one answer; `onText` receives the text as it grows (the pieces add up to the
   * answer's text). Rejects when the generation fails (e.g. a GPU error) or is aborted.
   */
  answer(request: AnswerRequest, onText?: (piece: string) => void): Promise<Answer>;
  /** Frees the models. */
  close(): void;
}

const STOP = INSTRUCTION_HEADER.trim();

/**
 * The visible text of a response as its tokens arrive: leading white space and a trailing `###…`
 * that may begin a new instruction are held back until they are known to belong to the answer.
 */
export class ResponseText {
  #raw = "";
  #shown = 0;
  /** A new instruction began: the answer is over. */
  stopped = false;

  /** Adds decoded text; returns the piece that can now be shown. */
  push(text: string): string {
    if (this.stopped) return "";
    this.#raw += text;
    const at = this.#raw.indexOf(STOP);
    if (at >= 0) {
      this.#raw = this.#raw.slice(0, at);
      this.stopped = true;
    }
    let body = this.#raw.trimStart();
    if (!this.stopped) {
      // The longest end of the text that could still grow into the stop marker is held back.
      let hold = Math.min(STOP.length - 1, body.length);
      while (hold > 0 && !STOP.startsWith(body.slice(body.length - hold))) hold--;
      body = body.slice(0, body.length - hold);
    }
    return this.#take(body.trimEnd());
  }

  /** The answer's whole text, and the last piece not yet shown. */
  end(): { text: string; piece: string } {
    const text = this.#raw.trim();
    return { text, piece: this.#take(text) };
  }

  #take(visible: string): string {
    if (visible.length <= this.#shown) return "";
    const piece = visible.slice(this.#shown);
    this.#shown = visible.length;
    return piece;
  }
}

interface Model {
  info: ServedCheckpoint;
  tokenizer: Tokenizer;
  sampler: Sampler;
  /** The end of the queue of this model's GPU work: one forward pass at a time. */
  queue: Promise<unknown>;
}

/** Runs `fn` after the model's earlier work; answers of several battles interleave per token. */
function exclusive<T>(m: Model, fn: () => Promise<T>): Promise<T> {
  const run = m.queue.then(fn, fn);
  m.queue = run.catch(() => {});
  return run;
}

/** The name under which a checkpoint directory is shown: the path without "./" or a final "/". */
export function checkpointName(dir: string): string {
  return dir.replace(/\/+$/, "").replace(/^(\.\/)+/, "") || dir;
}

/**
 * Loads every checkpoint (a missing, damaged or reward-model checkpoint throws a one-line
 * CheckpointError) and answers with model/generate.ts's Sampler: one forward pass per token over
 * the window of the last `context` tokens; a long prompt keeps its end.
 */
export async function loadAnswerer(dirs: readonly string[]): Promise<Answerer> {
  const gpu = await getGpu();
  const models = new Map<string, Model>();
  try {
    for (const dir of dirs) {
      const name = checkpointName(dir);
      const { checkpoint, tokenizer, gpt } = await loadModel(gpu, dir);
      if (checkpoint.config.head === "scalar") {
        gpt.destroy();
        throw new CheckpointError(
          `${dir} is a reward model (a scalar head, no text): pass policy checkpoints`,
        );
      }
      const info = { name, run: (await checkpointRunId(dir)) ?? null, context: gpt.config.context };
      models.set(name, { info, tokenizer, sampler: new Sampler(gpt), queue: Promise.resolve() });
    }
  } catch (e) {
    for (const m of models.values()) m.sampler.destroy();
    throw e;
  }
  const answer = async (req: AnswerRequest, onText?: (piece: string) => void) => {
    const m = models.get(req.checkpoint);
    if (!m) throw new RangeError(`no checkpoint named ${req.checkpoint}`);
    const { tokenizer, sampler } = m;
    const s = req.settings;
    const prompt = tokenizer.encode(formatPrompt(req.prompt));
    // Leave room for the answer in the window; the prompt keeps its end.
    const tokens = prompt.slice(-Math.max(1, m.info.context - Math.min(s.maxTokens, 64)));
    const rng = new Rng(s.seed);
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const text = new ResponseText();
    let count = 0, finished = false;
    while (count < s.maxTokens) {
      req.signal?.throwIfAborted();
      const logits = await exclusive(m, () => sampler.nextLogits(tokens));
      const id = sampleToken(logits, { ...s, rng });
      if (id === tokenizer.eot) {
        finished = true;
        break;
      }
      tokens.push(id);
      count++;
      const piece = text.push(decoder.decode(tokenizer.decodeBytes([id]), { stream: true }));
      if (piece) onText?.(piece);
      if (text.stopped) {
        finished = true;
        break;
      }
    }
    text.push(decoder.decode());
    const { text: whole, piece } = text.end();
    if (piece) onText?.(piece);
    return { text: whole, tokens: count, finished };
  };
  return {
    checkpoints: [...models.values()].map((m) => m.info),
    answer,
    close() {
      for (const m of models.values()) {
        m.sampler.destroy();
        m.sampler.graph.gpt.destroy();
      }
    },
  };
}
