/**
 * Version and commit. build.ts defines CAAS_BUILD_VERSION and CAAS_BUILD_COMMIT at compile time;
 * from sources they are absent and the package version with "source" stands in.
 */
import packageJson from "../package.json" with { type: "json" };

declare const CAAS_BUILD_VERSION: string | undefined;
declare const CAAS_BUILD_COMMIT: string | undefined;

export const VERSION: string = typeof CAAS_BUILD_VERSION === "string" ? CAAS_BUILD_VERSION : packageJson.version;
export const COMMIT: string = typeof CAAS_BUILD_COMMIT === "string" ? CAAS_BUILD_COMMIT : "source";

export function versionLine(): string {
  return `caas ${VERSION} (${COMMIT}) bun ${Bun.version}`;
}
