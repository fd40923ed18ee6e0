import { assert } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { ALIGN, TensorTable } from "./tensors.ts";

Deno.test("a table lays its tensors out at aligned offsets, one buffer or one each", async () => {
  const gpu = await getGpu();
  const specs = [{ name: "a", shape: [3, 5] }, { name: "b", shape: [7] }, {
    name: "c",
    shape: [1],
  }];
  const flat = TensorTable.create(gpu, "flat", specs, { contiguous: true });
  assert(flat.buffers.length === 1 && flat.contiguous);
  assert(flat.get("b").offset === ALIGN && flat.get("c").offset === 2 * ALIGN);
  assert(flat.flat("all").length === (3 * ALIGN) / 4);
  const apart = TensorTable.create(gpu, "apart", specs);
  assert(apart.buffers.length === 3 && !apart.contiguous);
  assert([...apart.tensors.values()].every((t) => t.offset === 0));
  flat.destroy();
  apart.destroy();
});

Deno.test("a tensor larger than one binding is refused, naming the table's remedy", async () => {
  const gpu = await getGpu();
  const big = { name: "big", shape: [gpu.limits.maxStorageBufferBindingSize / 4 + 1] };
  const refusal = (options: { tooLarge?: string }) => {
    try {
      TensorTable.create(gpu, "t", [big], options);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  const acts = refusal({});
  assert(/^t: tensor big \[\d+\] needs .*: lower --batch or --context$/.test(acts), acts);
  const params = refusal({ tooLarge: "use a smaller width" });
  assert(params.endsWith(": use a smaller width"), params);
});
