// Where the clusters live. Everything that differs between the sandbox and real (kind) clusters goes
// through this one small interface: how other clusters reach a gateway and an API server, flat routes,
// stopping an API server, and running the traffic client from inside a cluster's network.
import { readFileSync } from 'node:fs';
import type { ClientReport } from '../apps/index.js';
import { GATEWAY_NAME, GATEWAY_TUNNEL_PORT, MESH_NAMESPACE } from '../api/index.js';
import { KubeClient, kubeConfigFromString } from '../kube/index.js';
import { DemoError } from './errors.js';
import { runCommand, runMesh, meshBin, type CommandResult } from './run.js';

/** What the traffic client is asked to do (the body of the traffic-agent's POST /run). */
export interface TrafficRequest {
  url?: string;
  grpc?: string;
  tcp?: string;
  count: number;
  intervalMs?: number;
  timeoutMs?: number;
}

export interface Environment {
  readonly kind: 'sandbox' | 'kind';
  readonly kubeconfig: string;
  /** loopback / isolated (sandbox) or docker (kind). */
  readonly network: 'loopback' | 'isolated' | 'docker';
  /** `--gateway-address` for `mesh link` (host:port of the gateway as other clusters reach it); undefined = let `mesh link` find it. */
  gatewayAddress(context: string): Promise<string | undefined>;
  /** `--api-server-address` for `mesh link`; undefined = the kubeconfig's. */
  apiAddressFromClusters(context: string): string | undefined;
  /** Adds (or removes) flat pod-to-pod routes between two clusters. */
  flatRoute(a: string, b: string, remove: boolean): Promise<void>;
  /**
   * Stops / starts a cluster's API server (the rest of the cluster keeps running). `silent`: the sandbox
   * drops the packets instead of refusing them (a black-holed port: no RST, no ICMP), so only timeouts tell.
   */
  stopApiServer(context: string, opts?: { silent?: boolean }): Promise<void>;
  startApiServer(context: string): Promise<void>;
  /** Runs the traffic client from the traffic-agent pod of cluster `context` and returns its report. */
  traffic(context: string, req: TrafficRequest): Promise<ClientReport>;
  /**
   * Runs `node <args>` from where a workload of `context` stands (its network and cluster DNS): in the
   * sandbox inside the cluster's network; on kind on this machine, which reaches node addresses directly.
   */
  execNode(context: string, args: string[], timeoutMs?: number): Promise<CommandResult>;
  client(context: string): Promise<KubeClient>;
  close(): void;
}

export const AGENT = { namespace: 'demo', name: 'traffic-agent', port: 8081 } as const;

/** Shared by both environments: a KubeClient per context, closed together. */
export abstract class BaseEnvironment {
  private readonly clients = new Map<string, KubeClient>();
  constructor(readonly kubeconfig: string) {}

  async client(context: string): Promise<KubeClient> {
    let c = this.clients.get(context);
    if (!c) {
      c = await KubeClient.create(kubeConfigFromString(readFileSync(this.kubeconfig, 'utf8'), context), { timeoutMs: 10_000 });
      this.clients.set(context, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** The traffic-agent pod's IP and its Service's NodePort in `context`. */
  protected async agentAddress(context: string): Promise<{ podIP: string; nodePort?: number }> {
    const c = await this.client(context);
    const pods = await c.list<{ status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>(`/api/v1/namespaces/${AGENT.namespace}/pods`, { labelSelector: `app=${AGENT.name}` });
    const ready = pods.items.find((p) => p.status?.podIP && p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
    if (!ready?.status?.podIP) throw new DemoError('Traffic', `no ready ${AGENT.name} pod in ${context}/${AGENT.namespace}`, 'deploy it with deployTrafficAgent()');
    const svc = await c.get<{ spec?: { ports?: Array<{ nodePort?: number }> } }>(`/api/v1/namespaces/${AGENT.namespace}/services/${AGENT.name}`).catch(() => undefined);
    const nodePort = svc?.spec?.ports?.[0]?.nodePort;
    return { podIP: ready.status.podIP, ...(nodePort ? { nodePort } : {}) };
  }
}

/** Parses the agent's answer (a ClientReport) or explains what came back instead. */
export function parseReport(text: string, what: string): ClientReport {
  const line = text.split('\n').map((l) => l.trim()).reverse().find((l) => l.startsWith('{'));
  if (!line) throw new DemoError('Traffic', `${what}: no report in the answer: ${text.slice(-500)}`);
  const v = JSON.parse(line) as Partial<ClientReport> & { error?: string };
  if (v.error) throw new DemoError('Traffic', `${what}: ${v.error}`);
  if (!Array.isArray(v.results) || !v.summary) throw new DemoError('Traffic', `${what}: not a traffic report: ${line.slice(0, 300)}`);
  return v as ClientReport;
}

// POSTs a run request from inside the cluster's network (`mesh sandbox exec`) to the agent pod.
const POST = "const [u,b]=process.argv.slice(1);fetch(u,{method:'POST',body:b,headers:{'content-type':'application/json'}}).then(async(r)=>{process.stdout.write(await r.text()+'\\n');process.exit(0)}).catch((e)=>{process.stdout.write(JSON.stringify({error:'cannot reach the traffic agent: '+e.message})+'\\n');process.exit(0)})";

export interface SandboxClusterInfo {
  name: string;
  api: string;
  apiFromClusters: string;
  node: string;
  dns: string;
  podCIDR: string;
  serviceCIDR: string;
  netns?: string;
}

export class SandboxEnvironment extends BaseEnvironment implements Environment {
  readonly kind = 'sandbox' as const;
  constructor(kubeconfig: string, readonly dir: string, readonly network: 'loopback' | 'isolated', readonly clusters: SandboxClusterInfo[]) {
    super(kubeconfig);
  }

  private info(context: string): SandboxClusterInfo {
    const c = this.clusters.find((x) => x.name === context);
    if (!c) throw new DemoError('Usage', `no cluster ${context} in the sandbox (${this.clusters.map((x) => x.name).join(', ')})`);
    return c;
  }

  async gatewayAddress(context: string): Promise<string | undefined> {
    // The sandbox has no Node objects and no load balancer: the gateway is its NodePort on the node address.
    const svc = await (await this.client(context)).get<{ spec?: { ports?: Array<{ name?: string; port: number; nodePort?: number }> } }>(`/api/v1/namespaces/${MESH_NAMESPACE}/services/${GATEWAY_NAME}`);
    const tunnel = svc.spec?.ports?.find((p) => p.name === 'tunnel' || p.port === GATEWAY_TUNNEL_PORT);
    if (!tunnel?.nodePort) throw new DemoError('Command', `${context}: Service ${MESH_NAMESPACE}/${GATEWAY_NAME} has no NodePort`, 'install with --gateway-service-type NodePort');
    return `${this.info(context).node}:${tunnel.nodePort}`;
  }

  apiAddressFromClusters(context: string): string {
    return this.info(context).apiFromClusters;
  }

  async flatRoute(a: string, b: string, remove: boolean): Promise<void> {
    const r = await runMesh(['sandbox', 'route', '--flat', a, b, '--dir', this.dir, ...(remove ? ['--remove'] : [])], this.kubeconfig, 30_000);
    if (r.code !== 0) throw new DemoError('Command', `mesh sandbox route --flat ${a} ${b}${remove ? ' --remove' : ''} failed: ${r.stderr.trim()}`);
  }

  /** Whether stopApiServer can work here: only the isolated network has per-cluster routing to cut. */
  get canStopApiServer(): boolean {
    return this.network === 'isolated';
  }

  /**
   * The sandbox cannot stop one cluster's API server alone, so this makes it unreachable from every other
   * cluster, which is what they see of a stopped API server: a policy rule in each other cluster's network
   * namespace refuses TCP to that API address and port (the gateway on the same node address still works).
   */
  stopApiServer(context: string, opts: { silent?: boolean } = {}): Promise<void> {
    this.apiCut.set(context, opts.silent ? 'blackhole' : 'prohibit');
    return this.apiRule(context, 'add');
  }

  startApiServer(context: string): Promise<void> {
    return this.apiRule(context, 'del');
  }

  /** How each cut API server is cut (the rule is deleted with the same action it was added with). */
  private readonly apiCut = new Map<string, 'prohibit' | 'blackhole'>();

  private async apiRule(context: string, verb: 'add' | 'del'): Promise<void> {
    if (!this.canStopApiServer) throw new DemoError('Usage', `cannot cut ${context}'s API server off in the ${this.network} network (needs isolated)`);
    const api = new URL(this.info(context).apiFromClusters);
    const action = this.apiCut.get(context) ?? 'prohibit';
    for (const other of this.clusters.filter((c) => c.name !== context && c.netns)) {
      const args = ['-n', other.netns!, 'rule', verb, 'to', api.hostname, 'ipproto', 'tcp', 'dport', api.port || '443', action];
      const r = await runCommand('ip', args, { timeoutMs: 10_000 });
      if (r.code !== 0 && !(verb === 'del' && /No such file|not found/i.test(r.stderr))) throw new DemoError('Command', `ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
    }
  }

  execNode(context: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
    this.info(context);
    return runCommand(process.execPath, [meshBin, 'sandbox', 'exec', '--dir', this.dir, context, '--', process.execPath, ...args], { timeoutMs });
  }

  async traffic(context: string, req: TrafficRequest): Promise<ClientReport> {
    const { podIP } = await this.agentAddress(context);
    const budget = (req.count * ((req.intervalMs ?? 0) + (req.timeoutMs ?? 5_000))) + 20_000;
    const r = await runCommand(process.execPath, [meshBin, 'sandbox', 'exec', '--dir', this.dir, context, '--', process.execPath, '-e', POST, `http://${podIP}:${AGENT.port}/run`, JSON.stringify(req)], { timeoutMs: budget });
    return parseReport(r.stdout || r.stderr, `traffic from ${context} to ${req.url ?? req.grpc ?? req.tcp ?? '?'}`);
  }
}

/**
 * Real clusters made by kind (docker). The runner reaches the traffic agent at a node address + NodePort,
 * adds flat routes with `docker exec <node> ip route add`, and stops an API server by moving its static-pod
 * manifest away. With `dryRun`, docker commands are printed instead of run (no Docker here).
 */
export class KindEnvironment extends BaseEnvironment implements Environment {
  readonly kind = 'kind' as const;
  readonly network = 'docker' as const;
  readonly printed: string[] = [];
  constructor(kubeconfig: string, readonly dryRun: boolean, private readonly print: (line: string) => void = (l) => process.stdout.write(l + '\n')) {
    super(kubeconfig);
  }

  /** kind names contexts kind-<cluster> and nodes <cluster>-control-plane. */
  node(context: string): string {
    return `${context.replace(/^kind-/, '')}-control-plane`;
  }

  private async docker(args: string[]): Promise<string> {
    const line = `docker ${args.join(' ')}`;
    if (this.dryRun) {
      this.printed.push(line);
      this.print(`dry-run: ${line}`);
      return '';
    }
    const r = await runCommand('docker', args, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new DemoError('Command', `${line} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  gatewayAddress(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  execNode(_context: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
    if (this.dryRun) {
      this.print(`dry-run: node ${args.join(' ')}`);
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    }
    return runCommand(process.execPath, args, { timeoutMs });
  }

  apiAddressFromClusters(context: string): string {
    return `https://${this.node(context)}:6443`;
  }

  private async podCIDR(context: string): Promise<string> {
    if (this.dryRun) return `<pod CIDR of ${context}>`;
    return this.docker(['exec', this.node(context), 'sh', '-c', "kubectl --kubeconfig /etc/kubernetes/admin.conf get node -o jsonpath='{.items[0].spec.podCIDR}'"]);
  }

  private async nodeIP(context: string): Promise<string> {
    if (this.dryRun) return `<node IP of ${context}>`;
    return this.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', this.node(context)]);
  }

  async flatRoute(a: string, b: string, remove: boolean): Promise<void> {
    const [cidrA, cidrB, ipA, ipB] = await Promise.all([this.podCIDR(a), this.podCIDR(b), this.nodeIP(a), this.nodeIP(b)]);
    const verb = remove ? 'del' : 'replace';
    await this.docker(['exec', this.node(a), 'ip', 'route', verb, cidrB, 'via', ipB]);
    await this.docker(['exec', this.node(b), 'ip', 'route', verb, cidrA, 'via', ipA]);
  }

  async stopApiServer(context: string): Promise<void> {
    // The kubelet stops a static pod whose manifest leaves /etc/kubernetes/manifests.
    await this.docker(['exec', this.node(context), 'mv', '/etc/kubernetes/manifests/kube-apiserver.yaml', '/etc/kubernetes/kube-apiserver.yaml.stopped']);
  }

  async startApiServer(context: string): Promise<void> {
    await this.docker(['exec', this.node(context), 'mv', '/etc/kubernetes/kube-apiserver.yaml.stopped', '/etc/kubernetes/manifests/kube-apiserver.yaml']);
  }

  async traffic(context: string, req: TrafficRequest): Promise<ClientReport> {
    const what = `traffic from ${context} to ${req.url ?? req.grpc ?? req.tcp ?? '?'}`;
    if (this.dryRun) {
      this.print(`dry-run: POST http://<node of ${context}>:<traffic-agent NodePort>/run ${JSON.stringify(req)}`);
      return { results: [], summary: { target: req.url ?? req.grpc ?? req.tcp ?? '', total: 0, ok: 0, failed: 0, byCluster: {}, byPod: {}, latencyMs: { min: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 } } };
    }
    const { nodePort } = await this.agentAddress(context);
    if (!nodePort) throw new DemoError('Traffic', `${context}: Service ${AGENT.namespace}/${AGENT.name} has no NodePort`);
    const ip = await this.nodeIP(context);
    const budget = (req.count * ((req.intervalMs ?? 0) + (req.timeoutMs ?? 5_000))) + 20_000;
    const res = await fetch(`http://${ip}:${nodePort}/run`, { method: 'POST', body: JSON.stringify(req), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(budget) })
      .catch((err: Error) => { throw new DemoError('Traffic', `${what}: cannot reach the traffic agent at ${ip}:${nodePort}: ${err.message}`); });
    return parseReport(await res.text(), what);
  }
}
