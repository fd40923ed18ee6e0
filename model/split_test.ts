import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { vocabRows } from "../kernels/encoder.ts";
import { lmHeadBackward, vocabPieces, vocabRowsOf } from "./split.ts";

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

Deno.test("vocabPieces: whole when it fits, else pieces that fit, starting 256 bytes apart", () => {
  assertEquals(vocabPieces(37, 16, 37 * 16 * 4), [[0, 37]]);
  // C = 128: rows of 512 bytes, any row starts aligned; 18 rows fit 9472 bytes
  assertEquals(vocabPieces(37, 128, 9472), [[0, 18], [18, 18], [36, 1]]);
  // C = 24: 96-byte rows, so piece starts must be 8 rows apart (768 bytes)
  for (const [start] of vocabPieces(100, 24, 2000)) assertEquals((start * 24 * 4) % 256, 0);
  assertEquals(
    vocabPieces(100, 24, 2000).join(" "),
    "0,16 16,16 32,16 48,16 64,16 80,16 96,4",
  );
  const message = refusal(() => vocabPieces(100, 24, 700));
  assert(
    message.startsWith("The token embedding (100 x 24) needs 768 bytes per piece"),
    message,
  );
});

Deno.test("token table pieces: a bad range and mismatched pieces are refused", async () => {
  const gpu = await getGpu();
  const table = createTensor(gpu, [10, 4], "wte");
  const bad = [{ tensor: table, start: 0, count: 0 }];
  assertEquals(refusal(() => vocabRows("t", bad, 4)), "t: token rows [0, 0) are not a range");
  const short = [{ tensor: table, start: 0, count: 11 }];
  assertEquals(
    refusal(() => vocabRows("t", short, 4)),
    "t: wte holds 40 values, needs 44 (11 rows)",
  );
  const two = vocabRowsOf(createTensor(gpu, [128, 64], "big"), [[0, 64], [64, 64]], 64);
  const one = vocabRowsOf(createTensor(gpu, [128, 64], "grad"), [[0, 128]], 64);
  const t = (n: number) => createTensor(gpu, [n], "t");
  const message = refusal(() =>
    lmHeadBackward(gpu, {
      dinp: t(2 * 64),
      dwte: one,
      dlogits: t(2 * 128),
      inp: t(2 * 64),
      wte: two,
      N: 2,
      C: 64,
      V: 128,
    })
  );
  assertEquals(message, "lmHeadBackward: dwte and wte must come in the same pieces");
});
