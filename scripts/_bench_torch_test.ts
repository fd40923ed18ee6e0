import { assert, assertEquals } from "../tests/_assert.ts";
import { slowBlas } from "./_bench_torch.ts";

Deno.test("slowBlas: a peer on the reference BLAS does not count, OpenBLAS and CUDA do", () => {
  // what scripts/bench_torch.py reports
  assertEquals(slowBlas("OpenBLAS 0.3.21 (threads=2), core Haswell (CPU flags)"), undefined);
  assertEquals(slowBlas("CUDA 12.4, NVIDIA H200"), undefined);
  for (const blas of ["generic", "", undefined, "reference", "OpenBLAS generic"]) {
    const why = slowBlas(blas);
    assert(why?.includes("libopenblas0-pthread"), `${blas}: ${why}`);
  }
  assertEquals(
    slowBlas("generic"),
    'PyTorch ran on the BLAS "generic", not an optimised one: its speed and the ratio do not ' +
      "count (apt-get install -y libopenblas0-pthread)",
  );
});
