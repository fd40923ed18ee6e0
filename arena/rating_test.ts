import { assert, assertEquals } from "../tests/_assert.ts";
import type { Vote, Winner } from "../data/votes.ts";
import { judge } from "../data/world/mod.ts";
import { fitBradleyTerry, type Game, leaderboard } from "./rating.ts";

const ELO = 400 / Math.LN10;

function games(wins: number, losses: number, ties = 0): Game[] {
  return [
    ...Array.from({ length: wins }, () => ({ a: 0, b: 1, score: 1 })),
    ...Array.from({ length: losses }, () => ({ a: 0, b: 1, score: 0 })),
    ...Array.from({ length: ties }, () => ({ a: 1, b: 0, score: 0.5 })),
  ];
}

Deno.test("Bradley–Terry of two players: the log-odds of their record, with its standard error", () => {
  // Without a prior the fit is closed-form: θ₀ − θ₁ = ln(w / l), and the Fisher information of the
  // difference is n p (1 − p); each centred rating carries half the difference.
  const { theta, stderr } = fitBradleyTerry(games(30, 10), 2, 1e-9);
  const d = theta[0] - theta[1];
  assert(Math.abs(d - Math.log(3)) < 1e-6, `difference ${d} vs ln 3`);
  assert(Math.abs(theta[0] + theta[1]) < 1e-6, "ratings are centred");
  const se = 0.5 / Math.sqrt(40 * 0.75 * 0.25);
  assert(Math.abs(stderr[0] - se) < 1e-5 && Math.abs(stderr[1] - se) < 1e-5, `${stderr} vs ${se}`);
  // A tie is half a win each way: 10 wins, 10 losses and any ties give equal ratings.
  const even = fitBradleyTerry(games(10, 10, 7), 2, 1e-9).theta;
  assert(Math.abs(even[0] - even[1]) < 1e-9, `${even}`);
  // The prior keeps an unbeaten record finite, and more votes narrow the interval.
  const unbeaten = fitBradleyTerry(games(5, 0), 2);
  assert(Number.isFinite(unbeaten.theta[0]) && unbeaten.theta[0] > 1, `${unbeaten.theta}`);
  const few = fitBradleyTerry(games(3, 1), 2).stderr[0];
  const many = fitBradleyTerry(games(30, 10), 2).stderr[0];
  assert(few > 1.5 * many, `interval with 4 votes ${few} vs 40 votes ${many}`);
});

function vote(a: string, b: string, winner: Winner, answers: [string, string]): Vote {
  const side = (checkpoint: string, answer: string) => ({
    checkpoint,
    run: "r1",
    answer,
    tokens: 1,
    finished: true,
  });
  return {
    time: "",
    battle: "",
    prompt: "Give 2 tips for better sleep",
    winner,
    a: side(a, answers[0]),
    b: side(b, answers[1]),
    settings: { temperature: 1, max_tokens: 8, top_k: 0, top_p: 1, seed: 0 },
  };
}

Deno.test("the leaderboard: ratings with intervals, records, and the gold judge's mean score", () => {
  const good = "1. Keep the same bedtime every night.\n2. Keep your bedroom cool, dark and quiet.";
  const bad = "Eat a big meal.";
  const votes = [
    ...Array.from({ length: 6 }, () => vote("x", "y", "a", [good, bad])),
    ...Array.from({ length: 2 }, () => vote("y", "x", "a", [bad, good])),
    vote("x", "y", "tie", [good, bad]),
    vote("old", "x", "bad", [bad, good]),
  ];
  const served = [{ name: "x", run: "r1" }, { name: "y", run: "r1" }, { name: "z", run: null }];
  const board = leaderboard(votes, served);
  assertEquals(board.map((r) => [r.checkpoint, r.votes, r.wins, r.losses, r.ties, r.served]), [
    ["x", 10, 6, 2, 2, true],
    ["old", 1, 0, 0, 1, false], // a tie with the strongest
    ["z", 0, 0, 0, 0, true],
    ["y", 9, 2, 6, 1, true],
  ]);
  const [x, , z, y] = board;
  assert(x.rating > 1000 && y.rating < 1000, `${x.rating} ${y.rating}`);
  assert(x.low! < x.rating && x.rating < x.high!, "the interval holds the rating");
  assertEquals([z.rating, z.low, z.high, z.gold], [1000, null, null, null]);
  // Ratings are on the Elo scale and centred: their θ sum to zero.
  const sum = board.reduce((s, r) => s + (r.rating - 1000) / ELO, 0);
  assert(Math.abs(sum) < 1e-6, `sum ${sum}`);
  const g = judge("Give 2 tips for better sleep", good).score;
  const b = judge("Give 2 tips for better sleep", bad).score;
  assert(g > b, "the judge prefers the good answer");
  assert(Math.abs(x.gold! - g) < 1e-12 && Math.abs(y.gold! - b) < 1e-12, `${x.gold} ${y.gold}`);
  // A retrained checkpoint (another run id) is another row.
  const again = leaderboard([...votes, {
    ...vote("x", "y", "b", [bad, good]),
    a: { ...votes[0].a, run: "r2" },
  }], served);
  assertEquals(again.filter((r) => r.checkpoint === "x").map((r) => r.run).sort(), ["r1", "r2"]);
});
