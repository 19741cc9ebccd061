// Two copies of the record layer in one process (two installed versions, each with its own module
// instances, sharing msgpackr and zod) must read each other's records: msgpackr's registry of
// extension types is global, so records decode to the Timestamp class of whichever copy
// registered last. The test copies this package's dist into a temporary node_modules whose other
// packages link to the real ones, and runs two-copies-child.mjs, which loads both copies.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PACKAGE = path.resolve(HERE, '../..');
const ROOT_MODULES = path.resolve(PACKAGE, '../../node_modules');

let directory: string;
let copyIndex: string;

beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-records-copies-'));
  const modules = path.join(directory, 'node_modules');
  fs.mkdirSync(path.join(modules, '@strata'), { recursive: true });
  for (const entry of fs.readdirSync(ROOT_MODULES)) {
    if (entry !== '@strata' && !entry.startsWith('.')) fs.symlinkSync(path.join(ROOT_MODULES, entry), path.join(modules, entry));
  }
  for (const entry of fs.readdirSync(path.join(ROOT_MODULES, '@strata'))) {
    if (entry !== 'records') fs.symlinkSync(fs.realpathSync(path.join(ROOT_MODULES, '@strata', entry)), path.join(modules, '@strata', entry));
  }
  const copy = path.join(modules, '@strata', 'records');
  fs.mkdirSync(copy);
  fs.copyFileSync(path.join(PACKAGE, 'package.json'), path.join(copy, 'package.json'));
  fs.cpSync(path.join(PACKAGE, 'dist'), path.join(copy, 'dist'), { recursive: true });
  copyIndex = path.join(copy, 'dist', 'index.js');
});

afterAll(() => {
  if (directory !== undefined) fs.rmSync(directory, { recursive: true, force: true });
});

describe('two copies of the record layer in one process', () => {
  it('read each other’s Timestamps, whichever registered its msgpack extension last', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(HERE, 'two-copies-child.mjs'), pathToFileURL(copyIndex).href], { cwd: PACKAGE });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report).toEqual({
      ok: true,
      distinctClasses: true,
      results: Object.fromEntries(
        ['first', 'second'].map((name) => [name, { at: '2024-05-01T12:00:00.123456Z', isTimestamp: true, isOtherTimestamp: true, found: ['2024-05-01T12:00:00.123456Z'] }]),
      ),
    });
  });
});
