// Proves that the LevelEngine records the durable version with the data it describes, and that a
// sync never records an older durable version than a commit it overlaps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelEngine } from './level-engine.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function tempDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-level-engine-'));
  directories.push(directory);
  return directory;
}

describe('LevelEngine', () => {
  it('keeps the durable version of the newest commit when a sync overlaps it', async () => {
    const directory = tempDirectory();
    const engine = await LevelEngine.open(directory);
    await engine.commit([['a', new Uint8Array([1])]], 10);
    // The sync starts while the commit of version 20 is under way.
    const commit = engine.commit([['b', new Uint8Array([2])]], 20);
    const sync = engine.sync();
    await Promise.all([commit, sync]);
    expect(engine.durableVersion).toBe(20);
    await engine.close();
    const reopened = await LevelEngine.open(directory);
    expect(reopened.durableVersion).toBe(20);
    expect(await reopened.get('b')).toEqual(Buffer.from([2]));
    // The sync's own key is not data.
    const cursor = reopened.cursor('', '\xff', false);
    expect((await cursor.next(10)).map(([key]) => key)).toEqual(['a', 'b']);
    await cursor.close();
    await reopened.close();
  });
});
