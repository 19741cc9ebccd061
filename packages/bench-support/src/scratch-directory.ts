/**
 * Cleanup of what a benchmark leaves behind: scratch directories and child servers go away on
 * success, failure, `process.exit` and Ctrl-C (SIGINT, SIGTERM).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const scratchDirectories = new Set<string>();
const exitCallbacks = new Set<() => void>();
let exitHandlersInstalled = false;

// Installed once, on first use: exit runs the callbacks, then removes the directories; a signal
// turns into process.exit so that the same handler runs.
function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const callback of exitCallbacks) {
      try {
        callback();
      } catch {
        // Best effort: the process is exiting.
      }
    }
    for (const directory of scratchDirectories) fs.rmSync(directory, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers, removing scratch directories and exiting\n`);
      process.exit(130);
    });
  }
}

/**
 * Registers a synchronous callback run at process exit (for example killing a server that a
 * failure left running); returns a function that unregisters it.
 *
 * @remarks
 * Callbacks run before scratch directories are removed. A callback that throws does not stop the
 * others.
 * @example
 * ```ts
 * const forget = onExit(() => child.kill('SIGKILL'));
 * // ... the child stopped normally:
 * forget();
 * ```
 */
export function onExit(callback: () => void): () => void {
  installExitHandlers();
  exitCallbacks.add(callback);
  return () => exitCallbacks.delete(callback);
}

/**
 * Creates a fresh directory `strata-<label>-XXXXXX` under the OS temporary directory, removed at
 * exit if it is still there.
 *
 * @example
 * ```ts
 * const directory = await makeScratchDirectory('records-bench-strata');
 * try {
 *   // ... use it
 * } finally {
 *   await removeScratchDirectory(directory);
 * }
 * ```
 */
export async function makeScratchDirectory(label: string): Promise<string> {
  installExitHandlers();
  const directory = await fs.promises.mkdtemp(path.join(os.tmpdir(), `strata-${label}-`));
  scratchDirectories.add(directory);
  return directory;
}

/** Removes a directory made by {@link makeScratchDirectory} (nothing when it is already gone). */
export async function removeScratchDirectory(directory: string): Promise<void> {
  await fs.promises.rm(directory, { recursive: true, force: true });
  scratchDirectories.delete(directory);
}
