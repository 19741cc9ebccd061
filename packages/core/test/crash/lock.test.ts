// Proves that a data directory belongs to one process at a time: a second process that opens it
// gets StrataError `lock_file_failure` (errno 1529) naming the directory and changes nothing,
// while the process holding it keeps committing and everything it committed is there afterwards;
// and that a holder killed with SIGKILL leaves no stale lock behind.
import { afterEach, describe, expect, it } from 'vitest';
import { freshDirectory, killLiveChildren, logFiles, removeDirectories, startChild, text, type Child } from './child-harness.js';

async function commit(child: Child, entries: [string, string][]): Promise<void> {
  await child.request({ cmd: 'commit', entries });
}

async function readAll(child: Child, prefix: string): Promise<Record<string, string>> {
  const rows = (await child.request({ cmd: 'read', prefix })).rows!;
  return Object.fromEntries(rows.map(([key, value]) => [key, text(value)]));
}

const entries = (prefix: string, count: number): [string, string][] =>
  Array.from({ length: count }, (_, i) => [`${prefix}/${String(i).padStart(3, '0')}`, `${prefix}-value-${i}`]);

/** Checks that `child` failed to open `dir` because another process holds it. */
async function expectLockFailure(child: Child, dir: string): Promise<void> {
  const failed = await Promise.race([child.waitFor('open-failed'), child.waitFor('ready')]);
  expect(failed).toMatchObject({ type: 'open-failed', name: 'StrataError', code: 'lock_file_failure', errno: 1529 });
  expect(failed.message).toContain(dir);
  expect(await child.exited).toEqual({ code: 1, signal: null });
  expect(child.messages.some((m) => m.type === 'ready')).toBe(false);
}

afterEach(() => {
  killLiveChildren();
  removeDirectories();
});

describe('one process per data directory', () => {
  it('refuses a second process with lock_file_failure and leaves the holder and its data unharmed', async () => {
    const dir = freshDirectory('strata-lock-');
    const holder = startChild('hold', dir);
    await holder.waitFor('ready');
    const before = entries('before', 50);
    await commit(holder, before.slice(0, 25));
    await commit(holder, before.slice(25));
    const logBefore = logFiles(dir);
    expect(Object.keys(logBefore).length).toBeGreaterThan(0);

    const intruder = startChild('hold', dir);
    await expectLockFailure(intruder, dir);
    // The failed open touched nothing: the log that holds the acknowledged commits is byte-for-byte the same.
    expect(logFiles(dir)).toEqual(logBefore);

    // The holder still commits and reads everything.
    const after = entries('after', 20);
    await commit(holder, after);
    expect(await readAll(holder, 'before/')).toEqual(Object.fromEntries(before));
    expect(await readAll(holder, 'after/')).toEqual(Object.fromEntries(after));
    await holder.request({ cmd: 'close' });
    expect(await holder.exited).toEqual({ code: 0, signal: null });

    // Once the holder has closed, another process opens the directory and finds everything.
    const later = startChild('hold', dir);
    const ready = await later.waitFor('ready');
    expect(ready.recovery!.replayedBatches).toBe(0);
    expect(await readAll(later, 'before/')).toEqual(Object.fromEntries(before));
    expect(await readAll(later, 'after/')).toEqual(Object.fromEntries(after));
    await later.request({ cmd: 'close' });
    expect(await later.exited).toEqual({ code: 0, signal: null });
  });

  it('lets exactly one of two processes that open a new directory at the same time have it', async () => {
    const dir = freshDirectory('strata-lock-');
    const children = [startChild('hold', dir), startChild('hold', dir)];
    const outcomes = await Promise.all(
      children.map((child) => Promise.race([child.waitFor('ready'), child.waitFor('open-failed')])),
    );
    expect(outcomes.map((m) => m.type).sort()).toEqual(['open-failed', 'ready']);
    const winner = children[outcomes.findIndex((m) => m.type === 'ready')]!;
    const loser = children[outcomes.findIndex((m) => m.type === 'open-failed')]!;
    await expectLockFailure(loser, dir);
    await commit(winner, [['k', 'v']]);
    expect(await readAll(winner, 'k')).toEqual({ k: 'v' });
    await winner.request({ cmd: 'close' });
    expect(await winner.exited).toEqual({ code: 0, signal: null });
  });

  it('releases the directory when the holder is killed with SIGKILL', async () => {
    const dir = freshDirectory('strata-lock-');
    const holder = startChild('hold', dir);
    await holder.waitFor('ready');
    const written = entries('killed', 30);
    await commit(holder, written);
    await holder.kill();

    const next = startChild('hold', dir);
    const ready = await next.waitFor('ready');
    expect(ready.recovery!.replayedBatches).toBeGreaterThan(0);
    expect(await readAll(next, 'killed/')).toEqual(Object.fromEntries(written));

    // And the lock is taken again by the new holder.
    const intruder = startChild('hold', dir);
    await expectLockFailure(intruder, dir);
    await next.request({ cmd: 'close' });
    expect(await next.exited).toEqual({ code: 0, signal: null });
  });
});
