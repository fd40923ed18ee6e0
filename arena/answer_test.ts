import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { tinyCheckpoint } from "../tests/_run.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { extractResponse, formatPrompt } from "../data/template.ts";
import { loadModel, saveCheckpoint } from "../model/checkpoint.ts";
import { initialParameters } from "../model/gpt.ts";
import { GreedyGenerator } from "../model/instruct_eval.ts";
import { checkpointName, loadAnswerer, ResponseText } from "./answer.ts";

Deno.test("ResponseText shows the response as it grows, holding back what may end it", () => {
  const r = new ResponseText();
  const shown = ["\n", " 1. Rest", " well.\n", "#", "## ", "Next"].map((p) => r.push(p));
  // Leading white space waits; "#" and "## " might begin "### Instruction:" and wait too.
  assertEquals(shown, ["", "1. Rest", " well.", "", "", "\n### Next"]);
  assertEquals(r.end(), { text: "1. Rest well.\n### Next", piece: "" });

  const s = new ResponseText();
  const pieces = ["1. Nap.", "\n\n### Instr", "uction:\nmore"].map((p) => s.push(p));
  assertEquals(pieces, ["1. Nap.", "", ""]);
  assert(s.stopped, "a new instruction ends the answer");
  assertEquals(s.push("ignored"), "");
  assertEquals(s.end(), { text: "1. Nap.", piece: "" });
  // The text held back at the end is given out by end().
  const t = new ResponseText();
  assertEquals(t.push("1. Go ##"), "1. Go");
  assertEquals(t.end(), { text: "1. Go ##", piece: " ##" });
  assertEquals(checkpointName("./runs/sft/"), "runs/sft");
});

Deno.test("loadAnswerer: greedy answers match the batched generator's; text streams in pieces", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = buildTokenizer("bytes");
    await tinyCheckpoint(`${dir}/one`, { context: 128, seed: 7 });
    await tinyCheckpoint(`${dir}/two`, { context: 128, seed: 8 });
    // A reward model (a scalar head) writes no text.
    const { config } = await tinyCheckpoint(`${dir}/lm`, { context: 128 });
    const scalar = { ...config, head: "scalar" as const };
    await saveCheckpoint(`${dir}/reward`, {
      config: scalar,
      tokenizer: bytes.spec as unknown as Record<string, unknown>,
      params: initialParameters(scalar, 1),
      state: { stage: "reward" },
    });

    const answerer = await loadAnswerer([`${dir}/one/`, `${dir}/two`]);
    try {
      assertEquals(answerer.checkpoints.map((c) => [c.name, c.context]), [
        [`${dir}/one`, 128],
        [`${dir}/two`, 128],
      ]);
      const gpu = await getGpu();
      const prompts = ["Give 2 tips for sleep", "Hi"];
      for (const name of ["one", "two"]) {
        const { gpt } = await loadModel(gpu, `${dir}/${name}`);
        const gen = new GreedyGenerator(gpt, 1);
        for (const prompt of prompts) {
          const [ids] = await gen.generate([bytes.encode(formatPrompt(prompt))], {
            maxTokens: 24,
            stopToken: bytes.eot,
          });
          const want = extractResponse(bytes.decode(ids.filter((id) => id !== bytes.eot)));
          const pieces: string[] = [];
          const got = await answerer.answer({
            checkpoint: `${dir}/${name}`,
            prompt,
            settings: { temperature: 0, maxTokens: 24, topK: 0, topP: 1, seed: 1 },
          }, (piece) => pieces.push(piece));
          assertEquals(got.text, want, `${name}: ${prompt}`);
          assertEquals(pieces.join(""), got.text);
          assert(got.tokens >= 1 && got.tokens <= 24, `${got.tokens} tokens`);
        }
        gen.destroy();
        gpt.destroy();
      }
      // Sampling is seeded: the same seed gives the same answer.
      const sample = (seed: number) =>
        answerer.answer({
          checkpoint: `${dir}/one`,
          prompt: "Hi",
          settings: { temperature: 1, maxTokens: 12, topK: 0, topP: 1, seed },
        });
      assertEquals((await sample(3)).text, (await sample(3)).text);

      const stop = new AbortController();
      stop.abort(new Error("stopped here"));
      await assertRejects(
        () =>
          answerer.answer({
            checkpoint: `${dir}/one`,
            prompt: "Hi",
            settings: { temperature: 1, maxTokens: 12, topK: 0, topP: 1, seed: 1 },
            signal: stop.signal,
          }),
        /stopped here/,
      );
      await assertRejects(
        () =>
          answerer.answer({
            checkpoint: "nope",
            prompt: "Hi",
            settings: { temperature: 1, maxTokens: 2, topK: 0, topP: 1, seed: 1 },
          }),
        /no checkpoint named nope/,
      );
    } finally {
      answerer.close();
    }
    await assertRejects(() => loadAnswerer([`${dir}/one`, `${dir}/reward`]), /is a reward model/);
    await assertRejects(() => loadAnswerer([`${dir}/none`]), /does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
