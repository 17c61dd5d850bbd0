/**
 * A headless Chromium for interop tests, driven by puppeteer-core (no
 * downloaded browser: the system's `chromium`). The browser is kept off the
 * network: every host name except 127.0.0.1 resolves to nothing, no proxy,
 * no background services, no component updates, and each page records every
 * request it makes. Console errors and page errors are collected so a test
 * can assert there were none. The browser is closed and its profile
 * directory removed by `close()`, which tests call in a `finally`/`afterAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { BIN, ROOT } from './cli.js';
import { track } from './signal.js';
import { IN_CI } from './system.js';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'].filter((x): x is string => !!x);

/** The Chromium executable, or undefined when none is installed. */
export function findChromium(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/**
 * describe() for tests that need Chromium: skipped with the reason in its
 * title when it is missing, a failure under CI=true.
 */
export function describeWithChromium(name: string, fn: () => void): void {
  if (findChromium()) {
    describe(name, fn);
    return;
  }
  const reason = 'needs chromium (npm test installs it when run as root)';
  if (IN_CI) {
    describe(name, () => {
      throw new Error(`${name}: ${reason}`);
    });
  } else {
    describe.skip(`${name} [skipped: ${reason}]`, fn);
  }
}

/**
 * Command-line flags: headless, and nothing that talks to the network by
 * itself. `--host-resolver-rules` makes every name except 127.0.0.1 fail to
 * resolve, so even a forgotten background fetch cannot leave the machine.
 *
 * WebRTC: Chromium replaces host candidates with mDNS names (`<uuid>.local`)
 * unless the page has media permission; the feature switch turns that off so
 * the SDP carries the real address. (It leaves loopback out of ICE gathering,
 * and `--allow-loopback-in-peer-connection` does not change that: see
 * docs/testing.md for how the tests live with it.) A page asking for a
 * microphone gets a fake one, never a real device.
 */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-sync',
  '--disable-extensions',
  '--disable-breakpad',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-features=WebRtcHideLocalIpsWithMdns,Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying',
  '--metrics-recording-only',
  '--no-first-run',
  '--no-default-browser-check',
  '--no-pings',
  '--no-proxy-server',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--disable-component-extensions-with-background-pages',
];

export interface PageLog {
  /** console.error messages and uncaught page errors. */
  errors: string[];
  /** Every console message, "type: text". */
  console: string[];
  /** Every request the page made (URL), and the ones refused by the filter. */
  requests: string[];
  refused: string[];
}

/**
 * What Chromium's network stack did, from its NetLog (`--log-net-log`, written when the browser
 * exits). WebRTC's peer-to-peer sockets are not in it; pages' fetches, WebSockets and the
 * browser's own background requests are.
 */
export interface NetActivity {
  /** URLs the browser started a request for (its own background requests included). */
  urls: string[];
  /** Host resolutions that succeeded (the resolver rules let only 127.0.0.1 through). */
  resolved: string[];
  /** TCP connection attempts, "address:port". */
  tcp: string[];
  /** UDP sockets that sent a datagram, by connected address ("address:port", or "unconnected"). */
  udpSent: string[];
}

export interface TestBrowser {
  browser: Browser;
  /** A new page whose console, errors and requests are recorded. */
  newPage(o?: { allow?: (url: string) => boolean }): Promise<{ page: Page; log: PageLog }>;
  /** Close the browser, remove its profile, and read what its network stack did. */
  close(): Promise<NetActivity | undefined>;
}

/** Parse a NetLog file (JSON; a browser that was killed leaves the event list unterminated). */
export function readNetLog(file: string): NetActivity | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  let log: { constants: { logEventTypes: Record<string, number> }; events: { type: number; phase?: number; source: { id: number }; params?: Record<string, unknown> }[] };
  try {
    log = JSON.parse(text) as typeof log;
  } catch {
    log = JSON.parse(`${text.replace(/,\s*$/, '')}]}`) as typeof log;
  }
  const name = new Map(Object.entries(log.constants.logEventTypes).map(([k, v]) => [v, k]));
  const out: NetActivity = { urls: [], resolved: [], tcp: [], udpSent: [] };
  const udpPeer = new Map<number, string>();
  const resolving = new Map<number, string>();
  const sentFrom = new Set<number>();
  for (const e of log.events) {
    const t = name.get(e.type);
    const p = e.params ?? {};
    if (t === 'URL_REQUEST_START_JOB' && typeof p.url === 'string') out.urls.push(p.url);
    else if (t === 'TCP_CONNECT_ATTEMPT' && typeof p.address === 'string') out.tcp.push(p.address);
    else if (t === 'UDP_CONNECT' && typeof p.address === 'string') udpPeer.set(e.source.id, p.address);
    else if (t === 'UDP_BYTES_SENT' && !sentFrom.has(e.source.id)) {
      sentFrom.add(e.source.id);
      out.udpSent.push(udpPeer.get(e.source.id) ?? (typeof p.address === 'string' ? p.address : 'unconnected'));
    } else if (t === 'HOST_RESOLVER_MANAGER_REQUEST' && e.phase === 1 && typeof p.host === 'string') resolving.set(e.source.id, p.host);
    else if (t === 'HOST_RESOLVER_MANAGER_REQUEST' && e.phase === 2 && p.net_error === undefined && resolving.has(e.source.id)) out.resolved.push(resolving.get(e.source.id)!);
  }
  return out;
}

/**
 * Assert that Chromium's network stack reached nothing but this machine: every TCP connection
 * attempt went to loopback, every UDP datagram to loopback or one of the machine's own addresses
 * (see isThisMachine), and no host name resolved except 127.0.0.1
 * (background requests the browser still starts fail at name resolution; they are in `urls`).
 */
export function expectLoopbackOnly(net: NetActivity | undefined): void {
  expect(net, 'the NetLog was written').toBeDefined();
  expect(net!.tcp.filter((a) => !isLoopback(a))).toEqual([]);
  expect(net!.udpSent.filter((a) => !isThisMachine(a))).toEqual([]);
  expect(net!.resolved.filter((h) => !/^(\w+:\/\/)?(127\.0\.0\.1|\[::1\])(:\d+)?$/.test(h))).toEqual([]);
}

/** Whether an "address:port" (or "[v6]:port") is on loopback. */
export const isLoopback = (addr: string) => /^(127\.|\[::1\]|::1)/.test(addr);

/**
 * Whether an "address:port" is on this machine: loopback, or one of its own interface addresses
 * (the kernel delivers those through its local table; nothing reaches a wire). Chromium gathers
 * ICE candidates on the interfaces, so its peer-to-peer datagrams can go to such an address when
 * the other side's checks came from it.
 */
export function isThisMachine(addr: string): boolean {
  if (isLoopback(addr)) return true;
  const host = addr.replace(/^\[([^\]]+)\]:\d+$/, '$1').replace(/^([\d.]+):\d+$/, '$1');
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === host));
}

/**
 * Launch Chromium headless with CHROMIUM_FLAGS and a throw-away profile.
 * Pages get request interception: a request whose URL `allow` refuses (by
 * default anything but data:, about: and file:) is aborted and recorded.
 */
export async function launchChromium(o: { timeoutMs?: number } = {}): Promise<TestBrowser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no chromium executable');
  const profile = mkdtempSync(join(tmpdir(), `rtcprobe-chromium-${process.pid}-`));
  let browser: Browser;
  try {
    browser = await launch({
      executablePath,
      headless: true,
      userDataDir: profile,
      // The start page is about:blank (Chromium's own default would be a search engine's page).
      args: [...CHROMIUM_FLAGS, `--log-net-log=${join(profile, 'netlog.json')}`, '--net-log-capture-mode=Default', 'about:blank'],
      // puppeteer adds its own defaults (some enable features we turn off); ours replace them.
      ignoreDefaultArgs: true,
      pipe: true,
      timeout: o.timeoutMs ?? 60_000,
      protocolTimeout: o.timeoutMs ?? 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    browser,
    async newPage({ allow = (url: string) => /^(data|about|file|blob):/.test(url) } = {}) {
      const page = await browser.newPage();
      const log: PageLog = { errors: [], console: [], requests: [], refused: [] };
      page.on('console', (m: ConsoleMessage) => {
        log.console.push(`${m.type()}: ${m.text()}`);
        if (m.type() === 'error') log.errors.push(m.text());
      });
      page.on('pageerror', (e: unknown) => log.errors.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
      await page.setRequestInterception(true);
      page.on('request', (req) => {
        const url = req.url();
        log.requests.push(url);
        if (allow(url)) void req.continue();
        else {
          log.refused.push(url);
          void req.abort('blockedbyclient');
        }
      });
      return { page, log };
    },
    async close() {
      if (closed) return undefined;
      closed = true;
      try {
        await browser.close();
      } catch {
        // Already gone: kill whatever is left below.
      }
      const proc = browser.process();
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      try {
        return readNetLog(join(profile, 'netlog.json'));
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

// The browser peer (test/browser/peer-page.js) and the rtcprobe processes it meets.

const PAGE_JS = readFileSync(new URL('../browser/peer-page.js', import.meta.url), 'utf8');

export interface Summary { count: number; min: number; p50: number; p99: number; max: number }
export interface Side {
  sent: number;
  echoed: number;
  rtt: number[];
  echoedBack: number;
  receivedFromRemote: number;
  /** Sequence numbers of the first and last probe received from the remote. */
  firstSeq?: number;
  lastSeq?: number;
}
export interface BrowserReport {
  role?: string;
  remote?: string;
  /** The remote is a room server (SFU or MCU). */
  server: boolean;
  /** What the page decoded from the received audio: 20 ms blocks measured, blocks above silence, highest RMS (full scale 1). */
  audioIn?: { blocks: number; loud: number; maxRms: number };
  connected: boolean;
  errors: string[];
  /** What the page did, in order; offer-sent and answer-received carry the audio m-line's codecs in SDP order. */
  events: { event: string; at: number; audioCodecs?: string[] }[];
  probes: { reliable: Side; unreliable: Side };
  stats: {
    pair?: { state: string; local?: { type: string; address: string; port: number }; remote?: { type: string; address: string; port: number } };
    /** Audio: totalSamplesReceived counts samples the receiver played out, concealedSamples those it made up (loss, or a payload it could not decode). */
    inbound?: { kind: string; packetsReceived: number; mimeType?: string; totalAudioEnergy?: number; totalSamplesReceived?: number; concealedSamples?: number; silentConcealedSamples?: number }[];
    outbound?: { kind: string; packetsSent: number; mimeType?: string }[];
  };
}
export interface PeerConn {
  remote: string;
  state: string;
  pair?: { local: string; remote: string; remoteAddress?: string };
  dc?: { reliable: { sent: number; echoed: number; rttMs?: Summary; received: { received: number } }; unreliable: { sent: number; echoed: number; rttMs?: Summary; received: { received: number } } };
  audio?: { packetsReceived: number };
  video?: { packetsReceived: number };
}

import { jsonLines } from './json-lines.js';
export { jsonLines };

export async function startRelay(): Promise<{ ws: string; stop(): Promise<void> }> {
  const relay = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--host', '127.0.0.1', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const out = jsonLines(relay);
  const listening = await out.next((j) => j.event === 'listening');
  return { ws: String(listening.ws), stop: async () => void (await stopChild(relay)) };
}

export function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    c.kill(signal);
  });
}

/** A page with the browser peer loaded (about:blank, the script inline: no request at all). */
export async function browserPeerPage(b: TestBrowser): Promise<{ page: Page; log: PageLog }> {
  const p = await b.newPage();
  await p.page.setContent(`<!doctype html><html><head><meta charset="utf-8"><title>rtcprobe browser peer</title></head><body><script>${PAGE_JS}</script></body></html>`);
  return p;
}

export const browserReport = (page: Page) => page.evaluate(() => (window as unknown as { rtcprobePeer: { report(): Promise<unknown> } }).rtcprobePeer.report()) as Promise<BrowserReport>;


/**
 * Inside a describe block: a relay (`rtcprobe signal serve`) and a Chromium for
 * its tests, started before them and closed after them.
 */
export function relayAndChromium(): { readonly browser: TestBrowser; readonly relay: { ws: string; stop(): Promise<void> } } {
  const env = {} as { browser: TestBrowser; relay: { ws: string; stop(): Promise<void> } };
  beforeAll(async () => {
    env.relay = await startRelay();
    env.browser = await launchChromium();
  });
  afterAll(async () => {
    await env.browser?.close();
    await env.relay?.stop();
  });
  return env;
}
