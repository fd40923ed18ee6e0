import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_kv_cache.ts";
import { attentionDecode, embedAt } from "./kv_cache.ts";

Deno.test("embed_at matches the CPU reference at per-row positions", async () => {
  const gpu = await getGpu();
  const rng = new Rng(3);
  const B = 5, C = 36, V = 11, maxT = 9;
  const tokens = Uint32Array.from({ length: B }, () => rng.int(V));
  tokens.set([4, 0, 10]); // a token of each piece below
  const pos = Uint32Array.from([0, 8, 3, 3, 7]);
  const wte = rng.normalArray(V * C), wpe = rng.normalArray(maxT * C);
  const out = createTensor(gpu, [B, C], "out");
  await runOps(
    gpu,
    embedAt(gpu, {
      out,
      tokens: createTensor(gpu, [B], "tokens", tokens),
      pos: createTensor(gpu, [B], "pos", pos),
      wte: createTensor(gpu, [V, C], "wte", wte),
      wpe: createTensor(gpu, [maxT, C], "wpe", wpe),
      B,
      C,
    }),
  );
  const want = ref.embedAt(tokens, pos, wte, wpe, B, C);
  assertClose(await readTensor(gpu, out), want, { name: "out" });
  // The token embedding in pieces of token ids [0, 4), [4, 5) and [5, 11), tensors of their own.
  const pieces = [[0, 4], [4, 1], [5, 6]].map(([start, count]) => ({
    tensor: createTensor(
      gpu,
      [count, C],
      `wte.${start}`,
      wte.slice(start * C, (start + count) * C),
    ),
    start,
    count,
  }));
  const split = createTensor(gpu, [B, C], "split");
  await runOps(
    gpu,
    embedAt(gpu, {
      out: split,
      tokens: createTensor(gpu, [B], "tokens", tokens),
      pos: createTensor(gpu, [B], "pos", pos),
      wte: pieces,
      wpe: createTensor(gpu, [maxT, C], "wpe", wpe),
      B,
      C,
    }),
  );
  assertClose(await readTensor(gpu, split), want, { name: "out (pieces)" });
});

Deno.test("attention_decode writes the cache and attends over positions 0..pos", async () => {
  const gpu = await getGpu();
  const rng = new Rng(4);
  const B = 3, T = 13, C = 24, NH = 3; // head size 8
  const pos = Uint32Array.from([0, 12, 5]);
  const cacheData = rng.normalArray(B * T * 3 * C);
  const freshData = rng.normalArray(B * 3 * C);
  const cache = createTensor(gpu, [B, T, 3 * C], "cache", cacheData);
  const fresh = createTensor(gpu, [B, 3 * C], "fresh", freshData);
  const out = createTensor(gpu, [B, C], "out");
  await runOps(
    gpu,
    attentionDecode(gpu, {
      out,
      cache,
      fresh,
      pos: createTensor(gpu, [B], "pos", pos),
      B,
      T,
      C,
      NH,
    }),
  );
  const want = ref.attentionDecode(cacheData, freshData, pos, B, T, C, NH);
  assertClose(await readTensor(gpu, cache), want.cache, { name: "cache", atol: 0, rtol: 0 });
  assertClose(await readTensor(gpu, out), want.out, { name: "out", atol: 1e-5, rtol: 1e-4 });
});
