import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { generateWorld } from "../data/world/mod.ts";
import { Gpt } from "./gpt.ts";
import { Decoder } from "./decode.ts";
import {
  evaluateInstructions,
  INSTRUCT_METRICS,
  judgeResponse,
  scoreResponses,
  selectPrompts,
} from "./instruct_eval.ts";

const bytes = buildTokenizer("bytes");
const enc = (s: string) => bytes.encode(s);

Deno.test("judged responses: format, count, end-of-text and length", () => {
  const world = generateWorld({ seed: 3, instructions: 4, preferences: 0, proseParagraphs: 0 });
  const { prompt, response } = world.instructions[0];
  const good = judgeResponse(bytes, prompt, [...enc(response), bytes.eot, ...enc("junk")]);
  assertEquals(good.response, response);
  assert(good.endsWithEot);
  assertEquals(good.tokens, enc(response).length);
  assert(good.judgement.format && good.judgement.count);
  // No end-of-text, a new instruction after the list: the response stops at the header.
  const cut = judgeResponse(bytes, prompt, enc(`${response}\n\n### Instruction:\nMore`));
  assertEquals(cut.response, response);
  assert(!cut.endsWithEot);
  const prose = judgeResponse(bytes, prompt, [...enc("Sleep is nice."), bytes.eot]);
  assert(!prose.judgement.format);
  const m = scoreResponses([good, cut, prose]);
  assertEquals(Object.keys(m), [...INSTRUCT_METRICS]);
  assertEquals(m.format_compliance, 2 / 3);
  assertEquals(m.count_ok, 2 / 3);
  assertEquals(m.ends_with_eot, 2 / 3);
  assertEquals(
    m.gold_score,
    (good.judgement.score + cut.judgement.score + prose.judgement.score) / 3,
  );
  assertEquals(m.mean_length, (good.tokens + cut.tokens + prose.tokens) / 3);
  assertEquals(scoreResponses([]).gold_score, 0);
});

Deno.test("selectPrompts spreads the choice over the list", () => {
  const items = Array.from({ length: 10 }, (_, i) => `p${i}`);
  assertEquals(selectPrompts(items, 5), ["p0", "p2", "p4", "p6", "p8"]);
  assertEquals(selectPrompts(items, 0), items);
  assertEquals(selectPrompts(items, 20), items);
});

Deno.test("batched greedy answers equal one-at-a-time answers; evaluation takes a decoder", async () => {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, { vocabSize: 257, context: 48, layers: 1, heads: 2, width: 32 }, {
    seed: 5,
  });
  // Prompts of different lengths (the decoder stops a row when the context is full, so every
  // prompt here leaves room for all 12 new tokens).
  const prompts = ["a", "hello", "tips for sleep", "a longer prompt than the context"].map(enc);
  const batched = new Decoder(gpt, { rows: 3 }); // 4 prompts: two batches
  const single = new Decoder(gpt);
  try {
    const eot = 101; // a frequent-enough stop token for a random model: any id works
    const greedy = { maxTokens: 12, temperature: 0, stopToken: eot };
    const outs = await batched.generate(prompts, greedy);
    for (let i = 0; i < prompts.length; i++) {
      const want = await single.generate([prompts[i]], greedy);
      assertEquals(outs.tokens[i], want.tokens[0], `prompt ${i}`);
    }
    const m = await evaluateInstructions(gpt, bytes, ["Give 2 tips for sleep", "List 3 ways"], {
      maxTokens: 4,
      decoder: batched,
    });
    for (const k of INSTRUCT_METRICS) assert(Number.isFinite(m[k]), k);
    assert(m.mean_length <= 4);
  } finally {
    batched.destroy();
    single.destroy();
    gpt.destroy();
  }
});
