import { assertEquals, assertMatch } from "../tests/_assert.ts";
import { configure, UsageError } from "./cli.ts";

Deno.test("configure: --name=value overrides a default of the same type", () => {
  const defaults = { steps: 30, lr: 1e-4, out: "", quiet: false };
  assertEquals(configure(defaults, []), defaults);
  assertEquals(
    configure(defaults, ["--steps=5", "--lr=2e-3", "--out=a=b", "--quiet=true"]),
    { steps: 5, lr: 2e-3, out: "a=b", quiet: true },
  );
});

Deno.test("configure: an unknown name or a malformed value is one UsageError naming it", () => {
  const defaults = { steps: 30, quiet: false };
  const cases: [string, RegExp][] = [
    ["--step=5", /^--step=5: expected --name=value with a name among steps, quiet$/],
    ["--steps", /^--steps: expected --name=value/],
    ["steps=5", /^steps=5: expected --name=value/],
    ["--steps=five", /^--steps must be a number, got "five"$/],
    ["--steps=", /^--steps must be a number, got ""$/],
    ["--quiet=yes", /^--quiet must be true or false, got "yes"$/],
  ];
  for (const [arg, pattern] of cases) {
    let error: unknown;
    try {
      configure(defaults, [arg]);
    } catch (e) {
      error = e;
    }
    assertEquals(error instanceof UsageError, true, `${arg}: ${error}`);
    assertMatch((error as Error).message, pattern);
  }
});
