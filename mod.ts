/**
 * instructgpu: train instruction-following GPT models end to end on the GPU through WebGPU —
 * pretraining, supervised fine-tuning and RLHF — with WGSL kernels run headless by Deno.
 *
 * This module is the public API for research code; the stages (`deno task pretrain`, …) are thin
 * command lines over the same trainers. The exports come in groups:
 *
 * - **runtime**: the WebGPU device, tensors and ops;
 * - **layers**: the training graph (forward and backward op lists), attention and GELU variants,
 *   the parameter layout;
 * - **model**: the GPT, inference (losses, sampling, batched KV-cache generation), checkpoints;
 * - **training**: the trainers' base, {@linkcode LmTrainer} (pretraining, SFT) and the run loop
 *   {@linkcode run} (schedule, checkpoints, signals, non-finite steps, metrics, resuming);
 * - **RLHF**: {@linkcode RewardTrainer}, {@linkcode PpoTrainer}, {@linkcode GrpoTrainer},
 *   {@linkcode DpoTrainer}, rewards (functions or reward models), the RLHF stage as one call, and
 *   the losses' CPU math;
 * - **data**: tokenizers, corpora and batches, the chat template, instruction and preference
 *   formats, the instruction world and its gold judge;
 * - **evaluation**: instruction-following metrics, the stage metrics, the policy comparison.
 *
 * @example Pretrain a tiny GPT on a few sentences, then sample from it
 * ```ts
 * import { buildTokenizer, Decoder, getGpu, Gpt, LmTrainer, run, TokenBatches, tokenizeTexts } from "./mod.ts";
 *
 * const text = "Drink water in the morning. Take a short walk after lunch. ".repeat(200);
 * const tokenizer = buildTokenizer("gpt2-compact", [text]);
 * const { train } = tokenizeTexts([text], tokenizer, { valFraction: 0.1 });
 * const gpu = await getGpu();
 * const gpt = Gpt.create(gpu, { vocabSize: tokenizer.vocabSize, context: 32, layers: 2, heads: 2, width: 32 });
 * const trainer = new LmTrainer(gpt, { tokenizer, data: new TokenBatches(train), batch: 4, lr: 3e-3 });
 * const result = await run(trainer, { steps: 50, warmup: 5 });
 * console.log("loss", result.last?.loss);
 * const decoder = new Decoder(gpt);
 * const out = await decoder.generate([tokenizer.encode("Drink")], { maxTokens: 8, temperature: 0 });
 * console.log(tokenizer.decode(out.tokens[0]));
 * ```
 *
 * @example GRPO against a reward function of your own
 * ```ts
 * import { getGpu, GrpoTrainer, loadModel, run } from "./mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const shortAnswers = (_prompt: string, response: string) => -response.length / 100;
 * const grpo = new GrpoTrainer({ policy: sft, prompts: ["Give 2 tips for better sleep"], reward: shortAnswers, batch: 2 });
 * await run(grpo, { steps: 10 });
 * ```
 *
 * @module
 */

// ---- runtime: the WebGPU device, tensors, ops ---------------------------------------------------
export { fmtBytes, getGpu, type Gpu, GpuError, type GpuLimits, readback } from "./gpu/device.ts";
export { createTensor, encodeOps, type Op, type Tensor } from "./gpu/kernel.ts";

// ---- layers: the training graph, attention and GELU variants, the parameter layout -------------
export {
  type AttentionMode,
  attentionMode,
  geluFusion,
  Graph,
  type GraphOptions,
  initialParameters,
  parameterSpecs,
  readTable,
} from "./model/gpt.ts";
export { type TableOptions, type TensorSpec, TensorTable } from "./model/tensors.ts";

// ---- model: the GPT, inference, checkpoints ----------------------------------------------------
export {
  ConfigError,
  type GptConfig,
  type GptHead,
  parameterCount,
  PRESETS,
  validateConfig,
} from "./model/config.ts";
export { Gpt } from "./model/gpt.ts";
export {
  Evaluator,
  type ResponseBatch,
  responseBatch,
  responseLogProbs,
  type ResponseSeq,
  sampleToken,
  type SamplingOptions,
  samplingProbs,
} from "./model/generate.ts";
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
  type ExtraModel,
  loadCheckpoint,
  type LoadedModel,
  loadModel,
  type LoadOptions,
  saveCheckpoint,
  type SaveOptions,
} from "./model/checkpoint.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type NamedArray,
  type Safetensors,
} from "./model/safetensors.ts";

// ---- training: the step engine, the trainers' base, LmTrainer, the run loop ---------------------
export {
  type Batch,
  type StepHyper,
  type StepStats,
  type SubmitOptions,
  Trainer,
  type TrainerOptions,
  type ValueStepStats,
} from "./model/trainer.ts";
export {
  BaseTrainer,
  type EvalReport,
  type OptimizerOptions,
  type ResumedFrom,
  type SaveContext,
  type StepContext,
  type StepReport,
  type SubmittedStep,
} from "./train/base.ts";
export { type BatchSource, LmTrainer, type LmTrainerOptions } from "./train/lm.ts";
export {
  fmtDuration,
  MetricsLog,
  run,
  type RunOptions,
  type RunResult,
  StopRequest,
} from "./train/run.ts";
export { learningRate, type Schedule } from "./train/schedule.ts";
export { NonFiniteError } from "./train/errors.ts";
export { resumeCheckpoint } from "./train/resume.ts";
export { configure } from "./stages/cli.ts";

// ---- RLHF: the trainers, rewards, the stage as one call, the losses' math ----------------------
export { RewardTrainer, type RewardTrainerOptions } from "./train/reward_model.ts";
export { judgeReward, type Reward, type RewardFunction, RewardModel } from "./train/reward.ts";
export {
  pairPrompts,
  PolicyModels,
  PolicyTrainer,
  type PolicyTrainerOptions,
  type PromptItem,
  promptItems,
  type RolloutSettings,
  type Sample,
} from "./train/policy.ts";
export { PpoTrainer, type PpoTrainerOptions } from "./train/ppo.ts";
export { GroupPolicyTrainer, GrpoTrainer, type GrpoTrainerOptions } from "./train/grpo.ts";
export { DpoTrainer, type DpoTrainerOptions } from "./train/dpo.ts";
export { PairOrder, type PairOrderState } from "./train/pairs.ts";
export {
  type RlhfOptions,
  type RlhfPolicyOptions,
  type RlhfResult,
  type RlhfRewardOptions,
  trainRlhf,
} from "./train/rlhf.ts";
export { planRlhf, type RlhfPlan, type RlhfPlanOptions } from "./train/resume.ts";
export {
  type RewardLossOptions,
  RewardModelTrainer,
  type RewardStepStats,
  ValueReader,
  withScalarHead,
} from "./model/reward.ts";
export {
  bradleyTerry,
  type DpoLoss,
  dpoLoss,
  gae,
  groupAdvantages,
  k3,
  type PairLoss,
  type PolicyLoss,
  ppoPolicyLoss,
  ppoValueLoss,
  type ValueLoss,
  whiten,
} from "./model/ppo.ts";

// ---- data: tokenizers, corpora, batches, formats, the instruction world ------------------------
export {
  buildTokenizer,
  createTokenizer,
  type Tokenizer,
  type TokenizerKind,
  type TokenizerSpec,
} from "./data/tokenizer.ts";
export {
  prepareCorpus,
  type PrepareCorpusOptions,
  type PreparedCorpus,
  type SplitOptions,
  tokenizeTexts,
} from "./data/corpus.ts";
export {
  type Batch as TokenBatch,
  type BatchState,
  type SequentialBatch,
  TokenBatches,
  type TokenBatchesOptions,
} from "./data/batches.ts";
export { Rng } from "./data/rng.ts";
export {
  type BrokenRule,
  generateWorld,
  type InstructionPair,
  judge,
  type Judgement,
  parsePrompt,
  type PreferencePair,
  type Topic,
  TOPICS,
  type World,
  type WorldOptions,
} from "./data/world/mod.ts";
export {
  encodeConversation,
  type EncodedExample,
  encodeExample,
  extractResponse,
  formatPrompt,
  type Turn,
} from "./data/template.ts";
export {
  DATA_FORMATS,
  type DataFormat,
  type EncodedInstruction,
  InstructionBatches,
  type InstructionBatchesOptions,
  type InstructionBatchState,
  type InstructionExample,
  loadInstructions,
  type ParsedInstructions,
  parseInstructions,
  type WeightedBatch,
  worldInstructions,
} from "./data/instructions.ts";
export {
  type EncodedPair,
  encodePreference,
  fromWorld,
  loadPreferences,
  type Preference,
  type PreferenceData,
  splitHeldOut,
} from "./data/preferences.ts";
export { DataError } from "./data/errors.ts";

// ---- evaluation: instruction metrics, the stage metrics, the policy comparison -----------------
export {
  evaluateInstructions,
  type InstructEvalOptions,
  type InstructMetrics,
  type JudgedResponse,
} from "./model/instruct_eval.ts";
export {
  evaluateStage,
  STAGE_METRICS,
  type StageEvalOptions,
  type StageMetrics,
} from "./model/stage_eval.ts";
export { InstructionProbe, type InstructionProbeOptions } from "./train/instruct.ts";
export { type CompareOptions, comparePolicy } from "./train/compare.ts";
