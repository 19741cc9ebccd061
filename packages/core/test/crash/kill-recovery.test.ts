// Proves that a process killed with SIGKILL at a random moment loses no acknowledged commit and
// no transaction half-way: after every kill, reopening the data directory finds every marker the
// child reported as committed, bank balances that still sum to the fixed total with none negative,
// commits applied whole (counter and 100-key batches), and a clean close leaves nothing to replay.
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom, type RecoveryReport } from '../../dist/index.js';
import {
  freshDirectory,
  killLiveChildren,
  removeDirectories,
  seedFromEnvironment,
  startChild,
  text,
  type Child,
  type ChildMessage,
} from './child-harness.js';

const ACCOUNTS = 100;
const INITIAL_BALANCE = 1000n;
const TOTAL = BigInt(ACCOUNTS) * INITIAL_BALANCE;
const CYCLES = 20;
const BATCH_KEYS = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function int64(bytes: Uint8Array): bigint {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigInt64LE(0);
}

/** Kills a workload child and checks that it was still running, i.e. the workload had not failed. */
async function killWorkload(child: Child): Promise<void> {
  const exit = await child.kill();
  expect({ ...exit, stderr: child.stderr(), failures: child.messages.filter((m) => m.type === 'fatal' || m.type === 'open-failed') }).toEqual({
    code: null,
    signal: 'SIGKILL',
    stderr: '',
    failures: [],
  });
}

/**
 * Opens the directory in a verifying child, checks the bank workload's invariants through it, and
 * closes it cleanly. Returns the recovery report of that open.
 */
async function verify(dir: string, acks: Map<string, string>, runs: number[], context: string): Promise<RecoveryReport> {
  const child = startChild('hold', dir);
  const ready = await child.waitFor('ready');
  const read = async (prefix: string): Promise<[string, Uint8Array][]> => (await child.request({ cmd: 'read', prefix })).rows!;

  const balances = await read('acct/');
  expect(balances.length, `${context}: number of accounts`).toBe(ACCOUNTS);
  let sum = 0n;
  const negative: string[] = [];
  for (const [key, value] of balances) {
    const balance = int64(value);
    if (balance < 0n) negative.push(`${key}=${balance}`);
    sum += balance;
  }
  expect(negative, `${context}: negative balances`).toEqual([]);
  expect(sum, `${context}: sum of balances`).toBe(TOTAL);

  const markers = new Map<string, string>();
  for (const [key, value] of await read('ack/')) markers.set(key, text(value));
  const missing: string[] = [];
  for (const [key, value] of acks) if (markers.get(key) !== value) missing.push(`${key}: expected ${value}, found ${markers.get(key)}`);
  expect(missing.slice(0, 10), `${context}: acknowledged markers missing or wrong (${missing.length} of ${acks.size})`).toEqual([]);

  // Every transaction adds 1 to `count` with its marker, so the two agree iff no commit was half-applied.
  const count = await read('count');
  expect(count.length === 0 ? 0n : int64(count[0]![1]), `${context}: count vs markers`).toBe(BigInt(markers.size));

  // A batch transaction's 100 keys are all there, exactly when its marker is.
  for (const run of runs) {
    const groups = new Map<string, number>();
    for (const [key, value] of await read(`batch/c${run}/`)) {
      const [, , worker, seq] = key.split('/');
      const marker = `ack/c${run}/${worker}/${seq}`;
      const markerValue = markers.get(marker);
      expect(markerValue !== undefined && text(value).startsWith(`${markerValue}:`), `${context}: ${key} without its marker`).toBe(true);
      groups.set(marker, (groups.get(marker) ?? 0) + 1);
    }
    for (const [marker, value] of markers) {
      if (!marker.startsWith(`ack/c${run}/`) || !value.startsWith('batch:')) continue;
      expect(groups.get(marker) ?? 0, `${context}: keys of batch ${marker}`).toBe(BATCH_KEYS);
    }
  }
  await child.request({ cmd: 'close' });
  expect(await child.exited).toEqual({ code: 0, signal: null });
  return ready.recovery!;
}

afterEach(() => {
  killLiveChildren();
  removeDirectories();
});

describe('SIGKILL during a concurrent bank workload', () => {
  it('keeps every acknowledged commit and the bank invariants across repeated kills on one directory', async () => {
    const seed = seedFromEnvironment();
    console.log(`kill-recovery: seed ${seed} (replay with SEED=${seed})`);
    const random = seededRandom(seed);
    const dir = freshDirectory('strata-kill-');

    const acks = new Map<string, string>();
    const onMessage = (message: ChildMessage): void => {
      if (message.type === 'ack') acks.set(message.key!, message.value!);
    };
    let run = 0;
    let kills = 0;
    let tornReopens = 0;
    let replayReopens = 0;
    let childReplays = 0;
    let lastRecoveredVersion = 0;

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const runs: number[] = [];
      // A short MVCC window makes the storage server flush to LevelDB during the run, so kills
      // also land in the middle of storage writes; the default window keeps commits in the log.
      const mvccWindowMs = random() < 0.35 ? 100 : undefined;
      const bankOptions = (id: number): object => ({
        accounts: ACCOUNTS,
        initialBalance: Number(INITIAL_BALANCE),
        workers: 8,
        cycle: id,
        seed: Math.floor(random() * 2 ** 31),
        ...(mvccWindowMs === undefined ? {} : { mvccWindowMs }),
      });

      const first = startChild('bank', dir, bankOptions(run), onMessage);
      runs.push(run++);
      const ready = await first.waitFor('ready');
      // The previous cycle ended with a clean close (or the directory is new): nothing to replay.
      expect(ready.recovery, `cycle ${cycle}: open after a clean close`).toMatchObject({ replayedBatches: 0, tornLogBytes: 0 });
      await first.waitFor('ack');
      await sleep(20 + Math.floor(random() * 280));
      await killWorkload(first);
      kills++;

      if (cycle % 4 === 3) {
        // A second child recovers the killed one's log itself and is killed at a random moment,
        // possibly while it is still replaying.
        const second = startChild('bank', dir, bankOptions(run), onMessage);
        runs.push(run++);
        await sleep(100 + Math.floor(random() * 500));
        await killWorkload(second);
        kills++;
        const secondReady = second.messages.find((m) => m.type === 'ready');
        if (secondReady !== undefined && secondReady.recovery!.replayedBatches > 0) childReplays++;
      }

      const recovery = await verify(dir, acks, runs, `cycle ${cycle} (seed ${seed})`);
      if (recovery.tornLogBytes > 0) tornReopens++;
      if (recovery.replayedBatches > 0) replayReopens++;
      expect(recovery.recoveredVersion, `cycle ${cycle}: versions never go backwards`).toBeGreaterThanOrEqual(lastRecoveredVersion);
      expect(recovery.recoveredVersion).toBeGreaterThanOrEqual(recovery.durableVersion);
      lastRecoveredVersion = recovery.recoveredVersion;
    }

    // A reopen after a clean close replays nothing, discards nothing, and still has everything.
    const final = await verify(dir, acks, [], `final reopen (seed ${seed})`);
    expect(final).toMatchObject({ replayedBatches: 0, tornLogBytes: 0 });
    console.log(
      `kill-recovery: seed ${seed}, ${CYCLES} cycles, ${kills} kills, ${acks.size} acknowledged commits verified, ` +
        `${replayReopens} verifying reopenings replayed the log, ${childReplays} workload children replayed it, ` +
        `${tornReopens} found a torn tail`,
    );
    // The default MVCC window keeps a short run's commits in the log only, so some recoveries
    // must have replayed it; otherwise this test would not be exercising log recovery at all.
    expect(replayReopens + childReplays).toBeGreaterThan(0);
    expect(acks.size).toBeGreaterThan(CYCLES);
  });

  it('never hands out a version at or below one a client saw before the kill', async () => {
    const dir = freshDirectory('strata-kill-');
    const before = startChild('hold', dir);
    await before.waitFor('ready');
    const first = await before.request({ cmd: 'commit', entries: [['versions/1', 'one']] });
    // Idle for a while: the database keeps advancing its committed version without writes.
    await sleep(500);
    const seen = (await before.request({ cmd: 'read-version' })).readVersion!;
    expect(seen).toBeGreaterThanOrEqual(first.committedVersion!);
    expect(await before.kill()).toEqual({ code: null, signal: 'SIGKILL' });

    const after = startChild('hold', dir);
    await after.waitFor('ready');
    const next = await after.request({ cmd: 'commit', entries: [['versions/2', 'two']] });
    const readVersion = (await after.request({ cmd: 'read-version' })).readVersion!;
    expect({ committedVersion: next.committedVersion! > seen, readVersion: readVersion >= seen }, `read version ${seen} seen before the kill; after it: commit version ${next.committedVersion}, read version ${readVersion}`).toEqual({
      committedVersion: true,
      readVersion: true,
    });
    await after.request({ cmd: 'close' });
    expect(await after.exited).toEqual({ code: 0, signal: null });
  });
});
