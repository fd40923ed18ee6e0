/**
 * A small client of the Chrome DevTools protocol for browser tests: it starts headless Chromium
 * with a fresh profile, opens a page, and drives it (evaluate, wait for a condition, type, click,
 * screenshot) over one WebSocket. No package: Deno's WebSocket and the protocol's JSON messages.
 *
 * @module
 */

/** Where Chromium is installed (`CHROMIUM` overrides), or undefined. */
export async function findChromium(): Promise<string | undefined> {
  const candidates = [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if ((await Deno.stat(c)).isFile) return c;
    } catch { /* not there */ }
  }
  return undefined;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Resolves `fn()` once it is truthy, polling every 25 ms; rejects after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A running headless Chromium and its DevTools connection. */
export class Browser {
  #child: Deno.ChildProcess;
  #profile: string;
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  #listeners: ((msg: Json) => void)[] = [];
  #closed: Promise<void>;

  private constructor(child: Deno.ChildProcess, profile: string, ws: WebSocket) {
    this.#child = child;
    this.#profile = profile;
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data as string);
      const waiter = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
      if (waiter) {
        this.#pending.delete(msg.id);
        if (msg.error) waiter.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else waiter.resolve(msg.result);
      } else if (msg.method) { for (const fn of this.#listeners) fn(msg); }
    });
  }

  /** Starts Chromium (headless, a new profile, no network services) and connects to it. */
  static async launch(path: string, options: { width?: number; height?: number } = {}) {
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        `--window-size=${options.width ?? 1200},${options.height ?? 900}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    child.status.then(() => (exited = true));
    try {
      // Chromium writes its DevTools port and path to the profile once it listens.
      const active = await waitUntil("Chromium's DevToolsActivePort", async () => {
        if (exited) throw new Error(`${path} exited before it listened`);
        const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`).catch(() => "");
        const [port, wsPath] = text.split("\n");
        return port && wsPath ? `ws://127.0.0.1:${port}${wsPath}` : "";
      }, 60_000);
      const ws = new WebSocket(active);
      await new Promise((resolve, reject) => {
        ws.addEventListener("open", resolve);
        ws.addEventListener("error", () => reject(new Error(`cannot connect to ${active}`)));
      });
      return new Browser(child, profile, ws);
    } catch (e) {
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** Sends a command (to a page's session when `sessionId` is given) and waits for its result. */
  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  /** Calls `fn` with every event. */
  onEvent(fn: (msg: Json) => void): void {
    this.#listeners.push(fn);
  }

  /** Opens a new tab and attaches to it. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    await Promise.race([
      this.send("Browser.close").catch(() => {}),
      new Promise((r) => setTimeout(r, 5_000)),
    ]);
    this.#ws.close();
    await this.#closed;
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#child.status;
    clearTimeout(timer);
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One tab. */
export class Page {
  /** Messages of the dialogs (alert, confirm, prompt) the page opened; each is dismissed. */
  readonly dialogs: string[] = [];
  /** Uncaught exceptions of the page's scripts. */
  readonly errors: string[] = [];
  readonly #browser: Browser;
  readonly #session: string;
  #loaded = 0;

  constructor(browser: Browser, session: string) {
    this.#browser = browser;
    this.#session = session;
    browser.onEvent((msg) => {
      if (msg.sessionId !== session) return;
      if (msg.method === "Page.loadEventFired") this.#loaded++;
      if (msg.method === "Page.javascriptDialogOpening") {
        this.dialogs.push(msg.params.message);
        this.send("Page.handleJavaScriptDialog", { accept: false }).catch(() => {});
      }
      if (msg.method === "Runtime.exceptionThrown") {
        this.errors.push(msg.params.exceptionDetails?.exception?.description ?? "an exception");
      }
    });
  }

  /** Sends a command to this tab. */
  send(method: string, params: Json = {}): Promise<Json> {
    return this.#browser.send(method, params, this.#session);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const before = this.#loaded;
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error(`cannot load ${url}: ${r.errorText}`);
    await waitUntil(`the load event of ${url}`, () => this.#loaded > before);
  }

  /** The value of a JavaScript expression in the page (promises are awaited). */
  async evaluate<T = Json>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`${expression}: ${r.exceptionDetails.exception?.description ?? "threw"}`);
    }
    return r.result.value as T;
  }

  /** Waits until an expression is truthy in the page; returns its value. */
  waitFor<T = Json>(expression: string, timeoutMs = 30_000): Promise<T> {
    return waitUntil(expression, () => this.evaluate<T>(expression), timeoutMs);
  }

  /** Focuses an element, selects its content and types `text` (as keyboard input). */
  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); e.focus(); ` +
        `e.select(); })()`,
    );
    await this.send("Input.insertText", { text });
  }

  /** Clicks the middle of an element with the mouse. */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(
      `(() => { const e = document.querySelector(${
        JSON.stringify(selector)
      }); if (!e) return null; ` +
        `e.scrollIntoView({ block: "center" }); const r = e.getBoundingClientRect(); ` +
        `return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`,
    );
    if (!box) throw new Error(`no element ${selector} to click`);
    const at = { x: box.x, y: box.y, button: "left", clickCount: 1 };
    await this.send("Input.dispatchMouseEvent", { type: "mouseMoved", ...at });
    await this.send("Input.dispatchMouseEvent", { type: "mousePressed", ...at });
    await this.send("Input.dispatchMouseEvent", { type: "mouseReleased", ...at });
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }
}
