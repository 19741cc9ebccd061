// Proves that an online index build resumes after a crash: processes that build indexes over a
// real data directory while writers upsert and delete records are killed with SIGKILL part-way, one
// after another; each next process finds every index's build progress where the last commit left
// it (never behind the last step the killed process reported committed) and goes on from there,
// each process starting with another index; in the end the last process finishes the build while
// the writers still run, every acknowledged write is in the records, and every index equals the
// one the ordinary write path gives the same records in an empty store. SEED=<n> replays the
// choices (kill points, writes); the interleaving of the processes' commits still varies.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@strata/core';
import { afterEach, describe, expect, it } from 'vitest';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'index-build-child.mjs');
const SEED = process.env['SEED'] === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env['SEED']);
const RECORDS = 1_500;
const WRITERS = 4;
const KILLS = 4;
// Longest a child may take to send what the test waits for (a whole build takes a few seconds).
const WAIT_MS = 45_000;

interface Item {
  id: number;
  name: string;
  team: string;
  score: number;
  bonus?: bigint;
}
interface BuildState {
  state: string;
  built: string | null;
}
interface Message {
  type: string;
  id?: number;
  item?: Item | null;
  records?: Item[];
  states?: Record<string, BuildState>;
  entries?: string[];
  scratch?: string[];
  writeOnly?: string[];
  message?: string;
}

interface Child {
  messages: Message[];
  /** The first message of `type`; rejects if the child exits first or reports a fatal error. */
  waitFor(type: string): Promise<Message>;
  /** Resolves once `count` messages of `type` have come. */
  waitForCount(type: string, count: number): Promise<void>;
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function startChild(mode: string, dataDir: string, options: object, onMessage: (message: Message) => void = () => {}): Child {
  const child = fork(CHILD, [mode, dataDir, JSON.stringify(options)], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const messages: Message[] = [];
  const listeners = new Set<() => void>();
  child.on('message', (raw) => {
    const message = raw as Message;
    messages.push(message);
    onMessage(message);
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const until = <T>(test: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const fatal = messages.find((m) => m.type === 'fatal');
        const found = fatal === undefined ? test() : undefined;
        if (fatal === undefined && found === undefined) return;
        listeners.delete(check);
        if (fatal !== undefined) reject(new Error(`the ${mode} child failed: ${fatal.message}`));
        else resolve(found!);
      };
      listeners.add(check);
      check();
      void exited.then(({ code, signal }) => {
        if (listeners.delete(check)) reject(new Error(`the ${mode} child exited (code ${code}, signal ${signal}) before ${what}; stderr: ${stderr}`));
      });
      // A build that never ends (one that restarts, or never reaches its end) fails here, not at
      // the test's timeout.
      setTimeout(() => {
        if (listeners.delete(check)) reject(new Error(`the ${mode} child did not get to ${what} within ${WAIT_MS / 1000} s`));
      }, WAIT_MS).unref();
    });
  return {
    messages,
    exited,
    waitFor: (type) => until(() => messages.find((m) => m.type === type), `sending '${type}'`),
    waitForCount: (type, count) => until(() => (messages.filter((m) => m.type === type).length >= count ? true : undefined), `sending ${count} '${type}'`).then(() => {}),
    kill: () => {
      child.kill('SIGKILL');
      return exited;
    },
  };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const describeItem = (item: Item | null): string => JSON.stringify(item, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

describe('online index build killed part-way', () => {
  it(`resumes from its stored progress in the next process, every acknowledged write kept and every index exact (SEED=${SEED})`, async () => {
    console.log(`index-build-kill: SEED=${SEED}`);
    const random = seededRandom(SEED);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-records-build-kill-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));

    // Each id's acknowledged state, and the states of the writes sent since that were never
    // acknowledged (each cut by a kill before or after its commit): the id holds one of these.
    const acknowledged = new Map<number, Item | null>();
    const unacknowledged = new Map<number, (Item | null)[]>();
    const load = startChild('load', dataDir, { records: RECORDS, seed: SEED });
    for (const item of (await load.waitFor('loaded')).records!) acknowledged.set(item.id, item);
    expect(await load.exited).toEqual({ code: 0, signal: null });

    const onMessage = (message: Message): void => {
      if (message.type === 'intent') unacknowledged.set(message.id!, [...(unacknowledged.get(message.id!) ?? []), message.item!]);
      else if (message.type === 'ack') {
        acknowledged.set(message.id!, unacknowledged.get(message.id!)!.at(-1)!);
        unacknowledged.delete(message.id!);
      }
    };
    // What each process found of the build, and the last progress each killed process reported
    // (committed before its report), in order.
    const found: Record<string, BuildState>[] = [];
    const committed: Record<string, BuildState>[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // A short MVCC window in some runs moves writes into LevelDB while the process runs, so
      // kills also land in the middle of the storage server's writes.
      const mvccWindowMs = random() < 0.5 ? 100 : undefined;
      const child = startChild('work', dataDir, { records: RECORDS, writers: WRITERS, seed: Math.floor(random() * 2 ** 31), mvccWindowMs }, onMessage);
      found.push((await child.waitFor('ready')).states!);
      // An index takes up to about 30 steps; each process starts with another one, so the kills
      // land in the builds of the first, middle and last indexes in key order.
      await child.waitForCount('progress', 1 + Math.floor(random() * 40));
      await delay(Math.floor(random() * 25));
      expect((await child.kill()).signal).toBe('SIGKILL');
      committed.push(child.messages.filter((m) => m.type === 'progress').at(-1)!.states!);
    }
    const finish = startChild('finish', dataDir, { records: RECORDS, writers: WRITERS, seed: Math.floor(random() * 2 ** 31) }, onMessage);
    found.push((await finish.waitFor('ready')).states!);
    const finished = await finish.waitFor('finished');
    expect(await finish.exited).toEqual({ code: 0, signal: null });
    const progress = found.map((states) => Object.values(states).filter((state) => state.state === 'readable').length + '/' + Object.keys(states).length);
    console.log(`index-build-kill: ${acknowledged.size} ids loaded or written, ${unacknowledged.size} with writes cut by kills; indexes readable as each process found them: ${progress.join(', ')}`);

    // Every process found each index's progress at or past the last the process before it
    // reported committed: a build resumes where it stopped, it does not start over or lose a step.
    for (let i = 1; i < found.length; i++) {
      for (const [name, state] of Object.entries(found[i]!)) {
        const before = committed[i - 1]![name]!;
        if (before.state === 'readable') expect(state.state, `${name} in process ${i}`).toBe('readable');
        else if (state.state === 'write_only' && before.built !== null) {
          expect(state.built !== null && Buffer.compare(Buffer.from(state.built, 'hex'), Buffer.from(before.built, 'hex')) >= 0, `${name}'s progress in process ${i}`).toBe(true);
        }
      }
    }
    expect(Object.values(found[1]!).some((state) => state.state === 'write_only' && state.built !== null), 'the second process found a build part-way').toBe(true);
    // The kills landed in the builds of more than one index.
    const cut = new Set(committed.flatMap((states) => Object.entries(states).filter(([, state]) => state.state === 'write_only' && state.built !== null).map(([name]) => name)));
    expect(cut.size, 'indexes killed part-way').toBeGreaterThan(1);

    // Every id holds its last acknowledged write, or one sent after it that a kill cut.
    const stored = new Map(finished.records!.map((item) => [item.id, item]));
    const wrong: string[] = [];
    for (const id of new Set([...acknowledged.keys(), ...unacknowledged.keys(), ...stored.keys()])) {
      const actual = stored.get(id) ?? null;
      const allowed = [acknowledged.get(id) ?? null, ...(unacknowledged.get(id) ?? [])].map(describeItem);
      if (!allowed.includes(describeItem(actual))) wrong.push(`id ${id}: stored ${describeItem(actual)}, expected one of ${allowed.join(' / ')}`);
    }
    expect(wrong.slice(0, 10), `${wrong.length} ids`).toEqual([]);
    expect(finished.writeOnly).toEqual([]);
    expect(finished.entries).toEqual(finished.scratch);
  });
});
