// The arena page: asks for a battle, shows both answers as they stream, sends the vote and shows
// the leaderboard. Every text from the server (prompts, answers, checkpoint names) is set with
// textContent, never parsed as HTML. `document.body.dataset.state` tells where the page is
// (loading, ready, generating, voting, voted), for people and tests alike.

const $ = (selector) => document.querySelector(selector);
const form = $("#ask");
const status = $("#status");
const voteButtons = [...document.querySelectorAll("[data-winner]")];
let battle = null;

function setState(state) {
  document.body.dataset.state = state;
  $("#go").disabled = state === "generating" || state === "voting";
  for (const b of voteButtons) b.disabled = state !== "answered";
}

function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle("error", error);
}

function side(name) {
  const article = $(`#side-${name}`);
  return { text: article.querySelector(".text"), name: article.querySelector(".name"), article };
}

async function errorOf(response) {
  try {
    return (await response.json()).error ?? response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function post(path, body) {
  return await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Reads an NDJSON stream, calling `onEvent` with each parsed line. */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line));
    }
  }
}

async function ask(event) {
  event.preventDefault();
  setState("generating");
  say("Generating both answers…");
  battle = null;
  $("#battle").hidden = false;
  $("#asked").textContent = $("#prompt").value.trim() || "(a held-out prompt of the world)";
  for (const s of ["a", "b"]) {
    const { text, name, article } = side(s);
    text.textContent = "";
    name.textContent = "";
    delete article.dataset.done;
  }
  const body = {
    prompt: $("#prompt").value,
    temperature: Number($("#temperature").value),
    max_tokens: Number($("#max-tokens").value),
  };
  let failed = false;
  try {
    const response = await post("/api/battle/stream", body);
    if (!response.ok) throw new Error(await errorOf(response));
    await readEvents(response, (e) => {
      if (e.type === "battle") {
        battle = { id: e.id };
        $("#asked").textContent = e.prompt;
      } else if (e.type === "text") {
        side(e.side).text.textContent += e.text;
      } else if (e.type === "answer") {
        const s = side(e.side);
        s.text.textContent = e.text;
        s.article.dataset.done = "1";
      } else if (e.type === "error") {
        throw new Error(e.error);
      }
    });
    if (!side("a").article.dataset.done || !side("b").article.dataset.done) {
      throw new Error("the answers stopped before they were complete: try again");
    }
  } catch (e) {
    failed = true;
    say(e.message, true);
  }
  if (failed) {
    battle = null;
    setState("ready");
  } else {
    say("Which answer is better?");
    setState("answered");
  }
}

async function vote(winner) {
  if (!battle) return;
  setState("voting");
  const response = await post("/api/vote", { id: battle.id, winner }).catch((e) => e);
  if (!(response instanceof Response) || !response.ok) {
    const why = response instanceof Response ? await errorOf(response) : response.message;
    say(`The vote was not saved: ${why}`, true);
    setState("answered");
    return;
  }
  const names = await response.json();
  side("a").name.textContent = names.a;
  side("b").name.textContent = names.b;
  say("Vote saved. Ask again for another pair.");
  battle = null;
  setState("voted");
  await loadBoard();
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
}

async function loadBoard() {
  const response = await fetch("/api/leaderboard");
  if (!response.ok) return;
  const rows = await response.json();
  const names = rows.map((r) => r.checkpoint);
  const body = $("#board tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    if (!r.served) tr.className = "gone";
    const twice = names.filter((n) => n === r.checkpoint).length > 1;
    cell(tr, r.checkpoint + (twice && r.run ? ` (run ${r.run})` : "") + (r.served ? "" : " †"));
    cell(tr, Math.round(r.rating));
    cell(tr, r.low === null ? "–" : `${Math.round(r.low)} – ${Math.round(r.high)}`);
    cell(tr, r.votes);
    cell(tr, `${r.wins} / ${r.losses} / ${r.ties}`);
    cell(tr, r.gold === null ? "–" : r.gold.toFixed(3));
    body.append(tr);
  }
}

async function start() {
  try {
    const settings = await (await fetch("/api/settings")).json();
    $("#temperature").value = settings.temperature;
    $("#max-tokens").value = settings.max_tokens;
    $("#max-tokens").max = settings.limits.max_tokens;
    $("#prompt").maxLength = settings.limits.prompt;
    await loadBoard();
  } catch (e) {
    say(`The arena does not answer: ${e.message}`, true);
  }
  setState("ready");
}

form.addEventListener("submit", ask);
$("#prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
});
for (const b of voteButtons) b.addEventListener("click", () => vote(b.dataset.winner));
start();
