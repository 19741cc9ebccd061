// The harness shared by the crash tests: it forks crash-child.mjs with an IPC channel, records
// what each child says, lets a test wait for a message, send a `hold`-mode request or SIGKILL the
// child, and keeps track of the live children and temporary data directories so that a test
// file's afterEach/afterAll can clean them up. Each test file runs in its own process (the
// `forks` pool), so the tracking below is per test file.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RecoveryReport } from '../../dist/index.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-child.mjs');

/** A message from crash-child.mjs; which fields are set depends on `type`. */
export interface ChildMessage {
  type: string;
  id?: number;
  ok?: boolean;
  key?: string;
  value?: string;
  rows?: [string, Uint8Array][];
  readVersion?: number;
  committedVersion?: number;
  recovery?: RecoveryReport;
  error?: { code: string | null; errno: number | null; message: string; details: Record<string, unknown> | null };
  code?: string | null;
  errno?: number | null;
  name?: string | null;
  message?: string;
  details?: Record<string, unknown> | null;
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A crash-child.mjs process and what it said. */
export interface Child {
  messages: ChildMessage[];
  /** Resolves when the child is gone and its channel closed. */
  exited: Promise<Exit>;
  /** Resolves with the first message of `type`; rejects if the child exits first. */
  waitFor(type: string): Promise<ChildMessage>;
  /** Sends a request to a child in `hold` mode; resolves with its successful reply. */
  request(request: object): Promise<ChildMessage>;
  /** SIGKILLs the child and waits until it is gone. */
  kill(): Promise<Exit>;
  stderr(): string;
}

const live = new Set<ChildProcess>();
const directories: string[] = [];

/**
 * Forks crash-child.mjs in `mode` on `dataDir` with `options` (passed as JSON), calling
 * `onMessage` for every message it sends. The child counts as live until it has exited.
 */
export function startChild(mode: string, dataDir: string, options: object = {}, onMessage: (message: ChildMessage) => void = () => {}): Child {
  const child = fork(CHILD, [mode, dataDir, JSON.stringify(options)], {
    execArgv: [],
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  const messages: ChildMessage[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  const listeners = new Set<(message: ChildMessage) => void>();
  child.on('message', (raw) => {
    const message = raw as ChildMessage;
    messages.push(message);
    onMessage(message);
    for (const listener of [...listeners]) listener(message);
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const summary = (): string =>
    `messages: ${JSON.stringify(messages.filter((m) => m.type !== 'ack' && m.type !== 'reply'))}; stderr: ${stderr}`;
  const waitUntil = (test: (message: ChildMessage) => boolean, what: string): Promise<ChildMessage> => {
    const seen = messages.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (message: ChildMessage): void => {
        if (!test(message)) return;
        listeners.delete(listener);
        resolve(message);
      };
      listeners.add(listener);
      void exited.then(({ code, signal }) => {
        if (listeners.delete(listener)) reject(new Error(`child exited (code ${code}, signal ${signal}) before ${what}; ${summary()}`));
      });
    });
  };
  let nextId = 0;
  return {
    messages,
    exited,
    stderr: () => stderr,
    waitFor: (type) => waitUntil((m) => m.type === type, `sending '${type}'`),
    async request(request) {
      const id = nextId++;
      const reply = waitUntil((m) => m.type === 'reply' && m.id === id, `answering ${JSON.stringify(request)}`);
      child.send({ ...request, id });
      const answer = await reply;
      if (!answer.ok) throw new Error(`child request ${JSON.stringify(request)} failed: ${JSON.stringify(answer.error)}`);
      return answer;
    },
    async kill() {
      child.kill('SIGKILL');
      return exited;
    },
  };
}

/** SIGKILLs every child started by {@link startChild} that has not exited yet (without waiting). */
export function killLiveChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** Creates a new temporary directory named `prefix` plus a random suffix, to be removed by {@link removeDirectories}. */
export function freshDirectory(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  directories.push(dir);
  return dir;
}

/** Removes every directory made by {@link freshDirectory} so far, with everything in it. */
export function removeDirectories(): void {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
}

/** Every file of the data directory's log, by name, with its bytes (as hex). */
export function logFiles(dir: string): Record<string, string> {
  const logDir = path.join(dir, 'log');
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(logDir).sort()) files[name] = fs.readFileSync(path.join(logDir, name)).toString('hex');
  return files;
}

/** Decodes UTF-8 bytes read back from a child. */
export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** The random seed for a test run: `SEED` from the environment if set, otherwise a new random one. */
export function seedFromEnvironment(): number {
  return process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
}
