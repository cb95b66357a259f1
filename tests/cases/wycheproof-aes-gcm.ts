/** The Wycheproof AES-GCM vector file (tests/vectors/wycheproof/aes_gcm_test.json, see SOURCE), typed once for every backend's test. */
import vectorFile from "../vectors/wycheproof/aes_gcm_test.json" with { type: "json" };

export interface Vector {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
  readonly result: string;
}

export interface Group {
  readonly keySize: number;
  readonly ivSize: number;
  readonly tagSize: number;
  readonly tests: readonly Vector[];
}

export const groups: readonly Group[] = vectorFile.testGroups;
export const allVectors = groups.flatMap((group) => group.tests.map((vector) => ({ group, vector })));
export const numberOfTests: number = vectorFile.numberOfTests;
