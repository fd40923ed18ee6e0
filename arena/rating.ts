/**
 * The arena's leaderboard: a Bradley–Terry rating per checkpoint from the votes, with a 95%
 * interval, and beside it the gold judge's mean score of the same answers.
 *
 * Bradley–Terry: checkpoint i beats j with probability σ(θᵢ − θⱼ). A vote for a side is a win for
 * it; a tie or a both-bad vote counts half a win for each. θ maximises the log-likelihood of the
 * votes minus (λ/2)‖θ‖² (λ = 0.1, a weak prior that keeps θ finite when a checkpoint has only won,
 * and centres the ratings on 0), found by Newton's method. Ratings are shown on the Elo scale,
 * 1000 + 400 θ / ln 10 (a 400-point gap: 10-to-1 odds).
 *
 * The 95% interval is θᵢ ± 1.96 sᵢ from the Fisher information of the fit (the negative Hessian H
 * of the penalised log-likelihood over the checkpoints that have votes): sᵢ² is the i-th diagonal
 * entry of P H⁻¹ P, where P removes the common shift of all ratings (only differences are
 * measured). Unlike a bootstrap over votes, it stays wide when there are only a few votes.
 *
 * @module
 */
import { CholeskyDecomposition, inverse, Matrix } from "ml-matrix";
import type { Vote, VoteSide } from "../data/votes.ts";
import { judge } from "../data/world/mod.ts";

/** One comparison: `score` 1 when `a` won, 0 when `b` won, 0.5 for a tie. */
export interface Game {
  a: number;
  b: number;
  score: number;
}

/** One row of the leaderboard. */
export interface Standing {
  /** The checkpoint's name (its directory as given to the arena). */
  checkpoint: string;
  /** Its run id (null when it has none): a retrained checkpoint is a new row. */
  run: string | null;
  /** Bradley–Terry rating on the Elo scale (1000: the average). */
  rating: number;
  /** 95% interval of the rating (null without votes). */
  low: number | null;
  high: number | null;
  /** Votes that compared it with another checkpoint. */
  votes: number;
  wins: number;
  losses: number;
  /** Ties and both-bad votes. */
  ties: number;
  /** The gold judge's mean score of its answers in those votes (null without votes). */
  gold: number | null;
  /** Whether the arena serves it now. */
  served: boolean;
}

const ELO = 400 / Math.LN10;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The negative Hessian of the penalised Bradley–Terry log-likelihood at θ, and its gradient. */
function derivatives(games: readonly Game[], theta: readonly number[], prior: number) {
  const n = theta.length;
  const grad = theta.map((t) => -prior * t);
  const hess = Matrix.eye(n, n).mul(prior);
  for (const g of games) {
    const p = sigmoid(theta[g.a] - theta[g.b]);
    grad[g.a] += g.score - p;
    grad[g.b] -= g.score - p;
    const w = p * (1 - p);
    hess.set(g.a, g.a, hess.get(g.a, g.a) + w);
    hess.set(g.b, g.b, hess.get(g.b, g.b) + w);
    hess.set(g.a, g.b, hess.get(g.a, g.b) - w);
    hess.set(g.b, g.a, hess.get(g.b, g.a) - w);
  }
  return { grad, hess };
}

/**
 * Bradley–Terry strengths θ of `players` players from `games`, with an L2 prior of weight `prior`
 * (> 0): Newton's method on the penalised log-likelihood (concave), to convergence. Also returns
 * each player's standard error (see the module docs), 0 for a player without games.
 */
export function fitBradleyTerry(
  games: readonly Game[],
  players: number,
  prior = 0.1,
): { theta: number[]; stderr: number[] } {
  const theta = new Array(players).fill(0);
  for (let iter = 0; iter < 100; iter++) {
    const { grad, hess } = derivatives(games, theta, prior);
    const step = new CholeskyDecomposition(hess).solve(Matrix.columnVector(grad)).to1DArray();
    let largest = 0;
    step.forEach((d, i) => {
      theta[i] += d;
      largest = Math.max(largest, Math.abs(d));
    });
    if (largest < 1e-10) break;
  }
  const played = [...new Set(games.flatMap((g) => [g.a, g.b]))].sort((x, y) => x - y);
  const stderr = new Array(players).fill(0);
  if (played.length > 1) {
    const { hess } = derivatives(games, theta, prior);
    const cov = inverse(hess.selection(played, played));
    const k = played.length;
    const center = Matrix.eye(k, k).sub(Matrix.ones(k, k).div(k));
    const centered = center.mmul(cov).mmul(center);
    played.forEach((p, i) => (stderr[p] = Math.sqrt(Math.max(0, centered.get(i, i)))));
  }
  return { theta, stderr };
}

const goldCache = new WeakMap<VoteSide, number>();

/** The gold judge's score of one side's answer (cached per vote). */
function gold(prompt: string, side: VoteSide): number {
  let s = goldCache.get(side);
  if (s === undefined) {
    s = judge(prompt, side.answer).score;
    goldCache.set(side, s);
  }
  return s;
}

/**
 * The leaderboard of the checkpoints served now and of every checkpoint the votes name, best
 * rating first. A checkpoint is told apart by its name and run id.
 */
export function leaderboard(
  votes: readonly Vote[],
  served: readonly { name: string; run: string | null }[],
): Standing[] {
  const rows: Standing[] = [];
  const index = new Map<string, number>();
  const goldSum: number[] = [];
  const id = (checkpoint: string, run: string | null, isServed = false) => {
    const key = JSON.stringify([checkpoint, run]);
    let i = index.get(key);
    if (i === undefined) {
      i = rows.length;
      index.set(key, i);
      rows.push({
        checkpoint,
        run,
        rating: 1000,
        low: null,
        high: null,
        votes: 0,
        wins: 0,
        losses: 0,
        ties: 0,
        gold: null,
        served: isServed,
      });
      goldSum.push(0);
    }
    return i;
  };
  for (const s of served) id(s.name, s.run, true);
  const games: Game[] = [];
  for (const v of votes) {
    const a = id(v.a.checkpoint, v.a.run), b = id(v.b.checkpoint, v.b.run);
    if (a === b) continue; // a checkpoint against itself says nothing about ratings
    const score = v.winner === "a" ? 1 : v.winner === "b" ? 0 : 0.5;
    games.push({ a, b, score });
    for (const [i, side, s] of [[a, v.a, score], [b, v.b, 1 - score]] as const) {
      const r = rows[i];
      r.votes++;
      if (s === 1) r.wins++;
      else if (s === 0) r.losses++;
      else r.ties++;
      goldSum[i] += gold(v.prompt, side);
    }
  }
  const { theta, stderr } = fitBradleyTerry(games, rows.length);
  rows.forEach((row, i) => {
    row.rating = 1000 + ELO * theta[i];
    if (row.votes > 0) {
      row.low = row.rating - 1.96 * ELO * stderr[i];
      row.high = row.rating + 1.96 * ELO * stderr[i];
      row.gold = goldSum[i] / row.votes;
    }
  });
  return rows.sort((x, y) => y.rating - x.rating);
}
