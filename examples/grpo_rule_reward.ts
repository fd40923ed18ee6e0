/**
 * GRPO against a reward of our own: a plain TypeScript rule, no reward model.
 *
 *     deno run -A examples/grpo_rule_reward.ts                      # from checkpoints/sft
 *     deno run -A examples/grpo_rule_reward.ts --steps=60 --lr=1e-4
 *
 * The rule rewards an answer that is a numbered list with exactly as many items as the prompt
 * asks for, all different, and nothing else. We measure it on held-out prompts (greedy answers)
 * before and after training.
 */
import {
  configure,
  Decoder,
  extractResponse,
  formatPrompt,
  generateWorld,
  getGpu,
  type Gpt,
  GrpoTrainer,
  loadModel,
  run,
  type Tokenizer,
} from "../mod.ts";

// -----------------------------------------------------------------------------------------------
// settings (override any of them with --name=value)
const config = configure({
  init: "checkpoints/sft", // the SFT model to start from
  out: "", // where to save the policy ("" = nowhere)
  steps: 30,
  batch: 4, // prompts per step
  groupSize: 4, // responses per prompt
  lr: 5e-5,
  maxTokens: 72,
  evalPrompts: 32,
  seed: 1337,
});

// -----------------------------------------------------------------------------------------------
// the reward: a rule about the form of the answer
function countAsked(prompt: string): number {
  const m = prompt.match(/\b(\d+)\b/);
  return m ? Number(m[1]) : 3;
}

function ruleReward(prompt: string, response: string): number {
  const lines = response.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const items = lines.filter((l, i) => l.startsWith(`${i + 1}. `));
  let reward = 0;
  if (lines.length > 0 && items.length === lines.length) reward += 0.5; // only numbered items
  if (items.length === countAsked(prompt)) reward += 0.3; // as many as asked
  if (new Set(items.map((l) => l.slice(l.indexOf(" ") + 1))).size === items.length) {
    reward += 0.2; // no item repeated
  }
  return reward;
}

// -----------------------------------------------------------------------------------------------
// data: the training prompts of the instruction world, and some held-out ones
const world = generateWorld({ seed: 1, proseParagraphs: 0 });
const prompts = [...new Set(world.instructions.map((p) => p.prompt))];
const heldOut = world.heldOutPrompts.slice(0, config.evalPrompts);

// -----------------------------------------------------------------------------------------------
// the model
const gpu = await getGpu();
const sft = await loadModel(gpu, config.init);

async function meanReward(gpt: Gpt, tokenizer: Tokenizer): Promise<number> {
  const decoder = new Decoder(gpt, { rows: 8 });
  const { tokens } = await decoder.generate(
    heldOut.map((p) => tokenizer.encode(formatPrompt(p))),
    { maxTokens: config.maxTokens, temperature: 0, stopToken: tokenizer.eot },
  );
  decoder.destroy();
  const texts = tokens.map((ids) => extractResponse(tokenizer.decode(ids)));
  const rewards = texts.map((text, i) => ruleReward(heldOut[i], text));
  return rewards.reduce((a, b) => a + b, 0) / rewards.length;
}

// -----------------------------------------------------------------------------------------------
// training
const grpo = new GrpoTrainer({
  policy: sft,
  prompts,
  reward: ruleReward,
  batch: config.batch,
  groupSize: config.groupSize,
  lr: config.lr,
  seed: config.seed,
  rollout: { maxTokens: config.maxTokens },
});
const before = await meanReward(sft.gpt, sft.tokenizer);
await run(grpo, { steps: config.steps, warmup: 3, out: config.out || undefined });
const after = await meanReward(grpo.models.policy, sft.tokenizer);
console.log(
  `rule reward on ${heldOut.length} held-out prompts: ${before.toFixed(3)} → ${after.toFixed(3)}`,
);
grpo.destroy();
