/** Temporary directories for one test file, all removed after its last test. */
import { afterAll } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Call at the top level of a test file (it registers that file's afterAll); each call of the result makes a new directory. */
export function scratchDirectories(prefix: string): () => Promise<string> {
  const made: string[] = [];
  afterAll(async () => {
    for (const directory of made) await rm(directory, { recursive: true, force: true });
  });
  return async () => {
    const directory = await mkdtemp(join(tmpdir(), prefix));
    made.push(directory);
    return directory;
  };
}
