/**
 * deploy/kubernetes: every manifest is a valid Kubernetes object (the API's OpenAPI schema, as
 * kubernetes-models compiles it), the probes ask caas's real ops listener on caas's ops port, the
 * Service reaches caas's API port, the Secret volume holds exactly the files the settings name,
 * laid out so that caas accepts them, and the disruption budget covers the Deployment's pods.
 */
import { describe, expect, it } from "bun:test";
import { chmod, copyFile, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type IPodDisruptionBudget, PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { opsAddress } from "../../src/addresses.ts";
import { fixedDefault, loadConfig, SETTINGS, unknownSettingVariables } from "../../src/config.ts";
import { addKey } from "../../src/credentials/key-changes.ts";
import { checkCredentials } from "../../src/credentials/holder.ts";
import { createKeyringKey } from "../../src/credentials/keyring-changes.ts";
import { initRootKey } from "../../src/credentials/root-key.ts";
import { initSecretFile } from "../../src/credentials/secret-ring.ts";
import { startOpsListener } from "../../src/server/ops-listener.ts";
import { scratchDirectories } from "./scratch.ts";

const DIRECTORY = join(import.meta.dir, "../../deploy/kubernetes");
const scratch = scratchDirectories("caas-kubernetes-");

interface Manifest {
  readonly file: string;
  readonly object: { readonly apiVersion?: unknown; readonly kind?: unknown };
}

const files = (await readdir(DIRECTORY)).filter((name) => /\.ya?ml$/.test(name)).sort();
const manifests: Manifest[] = [];
for (const file of files) {
  const parsed: unknown = Bun.YAML.parse(await Bun.file(join(DIRECTORY, file)).text());
  const documents: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  for (const object of documents) {
    if (typeof object !== "object" || object === null) throw new Error(`${file}: a document that is not an object`);
    manifests.push({ file, object });
  }
}

/** The model that validates an object of this apiVersion and kind; only kinds caas ships are listed. */
function modelFor(object: Manifest["object"]): { validate(): void } {
  switch (`${String(object.apiVersion)} ${String(object.kind)}`) {
    case "apps/v1 Deployment":
      return new Deployment(object as IDeployment);
    case "v1 Service":
      return new Service(object as IService);
    case "policy/v1 PodDisruptionBudget":
      return new PodDisruptionBudget(object as IPodDisruptionBudget);
    default:
      throw new Error(`no schema for ${String(object.apiVersion)} ${String(object.kind)}`);
  }
}

/** The one object of a kind (each is validated against its schema above, so its shape holds). */
function only<T>(kind: string): T {
  const found = manifests.filter((manifest) => manifest.object.kind === kind);
  expect(found.map((manifest) => manifest.file)).toHaveLength(1);
  return found[0]?.object as T;
}

const deployment = only<IDeployment>("Deployment");
const service = only<IService>("Service");
const budget = only<IPodDisruptionBudget>("PodDisruptionBudget");
const pod = deployment.spec?.template.spec;
const container = pod?.containers.find((candidate) => candidate.name === "caas");
const env = Object.fromEntries((container?.env ?? []).map((variable) => [variable.name, variable.value]));

function containerPort(name: string | number | undefined): number | undefined {
  return typeof name === "number" ? name : container?.ports?.find((port) => port.name === name)?.containerPort;
}

const OPS_PORT = opsAddress(fixedDefault("opsListen"))?.port;
const API_PORT = fixedDefault("port");
/** Settings that name a file caas loads (and would find under $CREDENTIALS_DIRECTORY). */
const FILE_SETTINGS = SETTINGS.filter((setting) => setting.credential !== undefined);
const isFileSetting = (name: string) => FILE_SETTINGS.some((setting) => setting.env === name);

describe("the Kubernetes manifests", () => {
  it("are objects of the Kubernetes API, each valid to its schema", () => {
    expect(files).toEqual(["deployment.yaml", "pod-disruption-budget.yaml", "service.yaml"]);
    for (const manifest of manifests) expect(() => modelFor(manifest.object).validate()).not.toThrow();
  });

  it("are checked by a schema that does refuse a broken object", () => {
    const broken = structuredClone(deployment) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = "three";
    expect(() => modelFor(broken as Manifest["object"]).validate()).toThrow();
  });

  it("set only settings caas has, with values caas accepts", () => {
    const allowRemote = "CAAS_OPS_ALLOW_REMOTE";
    // The setting that opens the ops listener beyond loopback is added beside this change.
    const pending = SETTINGS.some((setting) => setting.env === allowRemote) ? [] : [allowRemote];
    expect(unknownSettingVariables(env).map((unknown) => unknown.name)).toEqual(pending);
    expect(env[allowRemote]).toBe("true");
    // Every value parses; the files are checked against the volume below.
    const withoutFiles = Object.fromEntries(Object.entries(env).filter(([name]) => !isFileSetting(name)));
    expect(() => loadConfig({ flags: {}, env: withoutFiles })).not.toThrow();
  });

  it("probe caas's own ops listener, on caas's ops port and its liveness and readiness paths", async () => {
    const liveness = container?.livenessProbe?.httpGet;
    const readiness = container?.readinessProbe?.httpGet;
    expect(containerPort(liveness?.port)).toBe(OPS_PORT);
    expect(containerPort(readiness?.port)).toBe(OPS_PORT);
    // The pod binds the ops port on every address, or the kubelet, which probes the pod's IP, cannot reach it.
    expect(opsAddress(env.CAAS_OPS_LISTEN ?? "")).toEqual({ hostname: "0.0.0.0", port: OPS_PORT ?? -1 });
    let ready = true;
    const listener = startOpsListener({ hostname: "127.0.0.1", port: 0 }, { metricsPage: () => "", isReady: () => ready });
    try {
      const get = async (path: string | undefined) => {
        const answer = await fetch(`http://127.0.0.1:${listener.port}${path}`);
        return { status: answer.status, body: await answer.json() };
      };
      expect(await get(liveness?.path)).toEqual({ status: 200, body: { status: "ok" } });
      expect(await get(readiness?.path)).toEqual({ status: 200, body: { status: "ready" } });
      ready = false;
      expect((await get(readiness?.path)).status).toBe(503);
      expect((await get(liveness?.path)).status).toBe(200);
    } finally {
      listener.stop(true);
    }
  });

  it("send the Service's port to caas's API port, listening beyond loopback, and never the ops port", () => {
    const ports = service.spec?.ports ?? [];
    expect(ports.map((port) => [port.port, containerPort(port.targetPort)])).toEqual([[API_PORT, API_PORT]]);
    expect(Number(env.CAAS_PORT ?? API_PORT)).toBe(API_PORT);
    expect(env.CAAS_HOST).toBe("0.0.0.0");
    expect(service.spec?.selector).toEqual(deployment.spec?.template.metadata?.labels ?? {});
  });

  it("keep a disruption budget over the Deployment's pods that a drain can meet", () => {
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    expect(budget.spec?.selector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels ?? {});
    for (const [name, value] of Object.entries(budget.spec?.selector?.matchLabels ?? {})) expect(labels[name]).toBe(value);
    const replicas = deployment.spec?.replicas ?? 1;
    expect(replicas).toBe(3);
    expect(budget.spec?.minAvailable).toBe(replicas - 1);
  });
});

describe("the credentials Secret volume", () => {
  const mount = container?.volumeMounts?.find((candidate) => candidate.name === "credentials");
  const volume = pod?.volumes?.find((candidate) => candidate.name === mount?.name)?.secret;
  const items = volume?.items ?? [];

  it("holds exactly the files the settings name, and every file a setting names is in it", () => {
    const named = FILE_SETTINGS.flatMap((setting) => (env[setting.env] === undefined ? [] : [env[setting.env]])).sort();
    expect(named).toEqual(items.map((item) => `${mount?.mountPath}/${item.path}`).sort());
    expect(items.map((item) => item.key).sort()).toEqual([
      "api-keys.json",
      "keyring.json",
      "root-key",
      "secret.json",
      "tls.crt",
      "tls.key",
    ]);
    expect(mount?.readOnly).toBe(true);
  });

  it("gives the files the owner and mode caas requires of a secret: root's, 0400, and no fsGroup to add group read", () => {
    expect(volume?.defaultMode).toBe(0o400);
    for (const item of items) expect(item.mode).toBeUndefined();
    expect(pod?.securityContext?.fsGroup).toBeUndefined();
    // The kubelet writes the files as root: the process reads them as root, with no capability.
    expect(pod?.securityContext?.runAsUser).toBe(0);
    expect(container?.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(container?.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  /**
   * The volume as the kubelet lays it out (pkg/volume/util/atomic_writer.go): a timestamped
   * directory (0755) holding each item at its path (subdirectories 0755), `..data` linking to it,
   * a link per top-level name through `..data`, in a volume root whose mode is 1777. Files are
   * written with defaultMode and belong to the kubelet (root); here, to whoever runs the test,
   * which caas treats alike as "the process's user or root".
   */
  async function kubeletVolume(root: string, paths: readonly { key: string; path: string }[], sources: string): Promise<void> {
    const stamp = "..2026_12_07_10_00_00.123456";
    await mkdir(join(root, stamp), { recursive: true });
    await chmod(root, 0o1777);
    await chmod(join(root, stamp), 0o755);
    for (const { key, path } of paths) {
      const file = join(root, stamp, path);
      await mkdir(dirname(file), { recursive: true, mode: 0o755 });
      await copyFile(join(sources, key), file);
      await chmod(file, volume?.defaultMode ?? 0o644);
    }
    await symlink(stamp, join(root, "..data"));
    for (const top of new Set(paths.map(({ path }) => path.split("/")[0] ?? path))) await symlink(join("..data", top), join(root, top));
  }

  async function credentialSources(): Promise<string> {
    const sources = await scratch();
    await initSecretFile(join(sources, "secret.json"));
    await addKey(join(sources, "api-keys.json"), { name: "main-server" });
    await initRootKey(join(sources, "root-key"));
    await createKeyringKey(join(sources, "keyring.json"), join(sources, "root-key"), { name: "customer-data" });
    // TLS files are read without owner or mode checks; the listener tests cover their contents.
    await writeFile(join(sources, "tls.crt"), "certificate");
    await writeFile(join(sources, "tls.key"), "key");
    return sources;
  }

  /** The Deployment's variables with the mount path moved to `root`. */
  function envAt(root: string): Record<string, string> {
    const moved: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined) moved[name] = mount?.mountPath !== undefined ? value.replace(mount.mountPath, root) : value;
    }
    return moved;
  }

  it("is laid out so that caas loads every credential from it", async () => {
    const root = await scratch();
    await kubeletVolume(root, items, await credentialSources());
    const config = loadConfig({ flags: {}, env: envAt(root) });
    expect(await checkCredentials(config)).toEqual({ wouldCreate: [], apiKeys: 1 });
  });

  it("would be refused with its files at the volume's top, where their links sit in the 1777 directory", async () => {
    const root = await scratch();
    const flat = items.map((item) => ({ key: item.key, path: item.key }));
    await kubeletVolume(root, flat, await credentialSources());
    // The same settings, each file named at the top of the volume.
    const flatEnv = Object.fromEntries(
      Object.entries(envAt(root)).map(([name, value]) => [name, isFileSetting(name) ? join(root, basename(value)) : value]),
    );
    const flatConfig = loadConfig({ flags: {}, env: flatEnv });
    await expect(checkCredentials(flatConfig)).rejects.toThrow(/group or others can write \(mode 1777\)/);
  });
});
