/**
 * instructgpu: train instruction-following GPT models end to end on the GPU through WebGPU —
 * pretraining, supervised fine-tuning and RLHF — with WGSL kernels run headless by Deno.
 *
 * This module is the public API for research code; the stages (`deno task pretrain`, …) are thin
 * scripts over it.
 *
 * @example Train a tiny GPT on a few sentences and sample from it
 * ```ts
 * import { buildTokenizer, Decoder, getGpu, Gpt, TokenBatches, tokenizeTexts, Trainer } from "./mod.ts";
 *
 * const text = "Drink water in the morning. Take a short walk after lunch. ".repeat(200);
 * const tokenizer = buildTokenizer("gpt2-compact", [text]);
 * const { train } = tokenizeTexts([text], tokenizer, { valFraction: 0.1 });
 * const gpu = await getGpu();
 * const gpt = Gpt.create(gpu, { vocabSize: tokenizer.vocabSize, context: 32, layers: 2, heads: 2, width: 32 });
 * const trainer = new Trainer(gpt, { B: 4, T: 32 });
 * const batches = new TokenBatches(train, { seed: 1 });
 * const hyper = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };
 * let stats;
 * for (let step = 0; step < 50; step++) stats = await trainer.submit([batches.nextBatch(4, 32)], hyper);
 * console.log("loss", stats!.loss);
 * const decoder = new Decoder(gpt);
 * const out = await decoder.generate([tokenizer.encode("Drink")], { maxTokens: 8, temperature: 0 });
 * console.log(tokenizer.decode(out.tokens[0]));
 * ```
 *
 * @module
 */

export { fmtBytes, getGpu, type Gpu, GpuError, readback } from "./gpu/device.ts";
export { createTensor, encodeOps, type Op, type Tensor } from "./gpu/kernel.ts";
export { type GptConfig, parameterCount, PRESETS, validateConfig } from "./model/config.ts";
export {
  type AttentionMode,
  attentionMode,
  geluFusion,
  Gpt,
  Graph,
  type GraphOptions,
  initialParameters,
  parameterSpecs,
  readTable,
} from "./model/gpt.ts";
export {
  type Batch,
  type StepHyper,
  type StepStats,
  Trainer,
  type TrainerOptions,
} from "./model/trainer.ts";
export { Evaluator, sampleToken, type SamplingOptions, samplingProbs } from "./model/generate.ts";
export {
  type Decoded,
  type DecodedChunk,
  type DecodeOptions,
  Decoder,
  type DecoderOptions,
  STREAMING_TOKENS_PER_SUBMIT,
} from "./model/decode.ts";
export {
  type Checkpoint,
  CheckpointError,
  loadCheckpoint,
  loadModel,
  saveCheckpoint,
} from "./model/checkpoint.ts";
export { decodeSafetensors, encodeSafetensors } from "./model/safetensors.ts";
export {
  buildTokenizer,
  createTokenizer,
  type Tokenizer,
  type TokenizerKind,
  type TokenizerSpec,
} from "./data/tokenizer.ts";
export { prepareCorpus, tokenizeTexts } from "./data/corpus.ts";
export { TokenBatches } from "./data/batches.ts";
export { Rng } from "./data/rng.ts";
export { generateWorld, judge, parsePrompt, TOPICS, type World } from "./data/world/mod.ts";
export {
  encodeConversation,
  encodeExample,
  extractResponse,
  formatPrompt,
} from "./data/template.ts";
export { loadInstructions, parseInstructions, worldInstructions } from "./data/instructions.ts";
export { loadPreferences } from "./data/preferences.ts";
export { DataError } from "./data/errors.ts";
export { evaluateInstructions, type InstructMetrics } from "./model/instruct_eval.ts";
export { evaluateStage, STAGE_METRICS, type StageMetrics } from "./model/stage_eval.ts";
export { RewardModelTrainer, ValueReader } from "./model/reward.ts";
export { bradleyTerry, dpoLoss, gae, ppoPolicyLoss, ppoValueLoss, whiten } from "./model/ppo.ts";
