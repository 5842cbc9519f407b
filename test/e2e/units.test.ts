// The pure parts of the demo and the runner: network choice, the scenario list, the report, kind's commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientReport } from '../../src/apps/index.js';
import { chooseNetwork, DemoError, KindEnvironment, renderReport, summarize, demoTargets, type DemoFacts } from '../../src/demo/index.js';
import { parseScenarioList } from './runner.js';
import { timeline } from '../../src/demo/failover-act.js';
import { coverage, MARKER, readmeLines, walkthroughLines } from './scenarios/mcs-readme.js';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';

test('chooseNetwork: isolated when possible, loopback with the reason otherwise; an impossible --network isolated is a usage error', () => {
  assert.deepEqual(chooseNetwork('auto', undefined).network, 'isolated');
  const fb = chooseNetwork('auto', 'root (run as root for network namespaces)');
  assert.equal(fb.network, 'loopback');
  assert.match(fb.why, /falling back to loopback: the isolated network needs root/);
  assert.equal(chooseNetwork('loopback', undefined).network, 'loopback');
  assert.throws(() => chooseNetwork('isolated', 'root'), (e: unknown) => e instanceof DemoError && e.code === 'Usage' && /not possible here: root/.test(e.message));
});

test('parseScenarioList: lists and ranges; unknown ids and junk are refused', () => {
  assert.equal(parseScenarioList(undefined), undefined);
  assert.deepEqual(parseScenarioList('1,3-5'), [1, 3, 4, 5]);
  assert.throws(() => parseScenarioList('0'), /no scenario 0/);
  assert.throws(() => parseScenarioList('1;2'), /not a number or range/);
});

test('renderReport: path, answering pods, latency, identities and commands, from the facts given', () => {
  const [web, , , , flat] = demoTargets('cluster-b');
  const report = (byPod: Record<string, number>, ok: number, errors: string[] = []): ClientReport => ({
    results: [...Array(ok).fill(0).map((_, i) => ({ seq: i + 1, at: '2026-01-01T00:00:00.000Z', ok: true, latencyMs: 2 })), ...errors.map((e, i) => ({ seq: ok + i + 1, at: '2026-01-01T00:00:00.000Z', ok: false, latencyMs: 1, error: e }))],
    summary: { target: 'x', total: ok + errors.length, ok, failed: errors.length, byCluster: (ok ? { 'cluster-b': ok } : {}) as Record<string, number>, byPod, latencyMs: { min: 1, p50: 2, p90: 3, p99: 4, max: 5, mean: 2 } },
  });
  const facts: DemoFacts = {
    source: 'cluster-a', target: 'cluster-b', network: 'isolated', networkWhy: 'root', kubeconfig: '/k', dir: '/d', flatRoutes: true,
    results: [
      { target: web!, shadow: { name: 'web-cluster-b', mode: 'gateway', readyEndpoints: 1, addresses: ['10.1.1.2'], ports: [14004] }, report: report({ 'web-1': 2, 'web-2': 1 }, 3) },
      { target: flat!, shadow: { name: 'web-flat-cluster-b', mode: 'flat', readyEndpoints: 2, addresses: ['10.2.1.3', '10.2.1.4'], ports: [8080] }, report: report({}, 0, ['connect ETIMEDOUT']) },
    ],
    gateways: [{ cluster: 'cluster-b', address: '10.255.0.12:30000', alive: true, latency: '1.5 ms', identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', conditions: 'Ready=True' }],
  };
  const text = renderReport(facts);
  assert.match(text, /path {6}gateway: through cluster-a's gateway \(shadow endpoints = local gateway pod, port 14004\)/);
  assert.match(text, /answered {2}3\/3 ok; by cluster cluster-b×3; by pod web-1×2, web-2×1/);
  assert.match(text, /path {6}flat: pod to pod, no gateway \(shadow endpoints = cluster-b's pod IPs 10\.2\.1\.3, 10\.2\.1\.4\)/);
  assert.match(text, /errors {4}connect ETIMEDOUT/);
  assert.match(text, /requires the peer identity spiffe:\/\/mesh\.local\/ns\/mesh-system\/sa\/mesh-gateway/);
  assert.match(text, /kubectl --kubeconfig \/k --context cluster-a get svc,endpointslices -n demo/);
  assert.match(text, /mesh sandbox route --flat cluster-a cluster-b --dir \/d/);
  const s = summarize(facts);
  assert.deepEqual(s.targets.map((t) => [t.path, t.ok, t.total]), [['gateway', 3, 3], ['flat', 0, 1]]);
  assert.doesNotMatch(text, /caller {4}/, 'no caller line when the target reported none');
  // Issue 15: the callers web saw (PROXY v2 from its gateway) are printed per target.
  const id = 'spiffe://mesh.local/ns/demo/sa/default';
  const withCaller = { ...facts.results[0]!, report: { ...facts.results[0]!.report, results: facts.results[0]!.report.results.map((r) => ({ ...r, callerIdentity: id, callerCluster: 'cluster-a' })) } };
  const shown = renderReport({ ...facts, results: [withCaller] });
  assert.match(shown, /caller {4}the target saw spiffe:\/\/mesh\.local\/ns\/demo\/sa\/default from cluster-a \(PROXY v2/);
  assert.deepEqual(summarize({ ...facts, results: [withCaller] }).targets[0]?.callers, [`${id} from cluster-a`]);
});

/**
 * Parses `mesh ARGS` with the real program, every command's action replaced by a recorder: options, choices,
 * argument parsers and arity are checked as when a person types it, and nothing runs. Returns the command
 * reached (`sandbox exec`) and its operands; throws as mesh would exit 2.
 */
async function meshParses(args: string[]): Promise<{ command: string; operands: string[] }> {
  const argv = ['node', 'mesh', ...args];
  const program = await buildProgram(argv);
  const errors: string[] = [];
  let reached: { command: string; operands: string[] } | undefined;
  const visit = (c: Command, path: string[]): void => {
    c.configureOutput({ writeOut: () => undefined, writeErr: (e) => void errors.push(e) });
    // Leaves only: an action on a group would make it take any unknown subcommand as an operand.
    if (c.commands.length === 0) c.action((...a: unknown[]) => void (reached = { command: path.join(' '), operands: (a.at(-1) as Command).args }));
    for (const sub of c.commands) visit(sub, [...path, sub.name()]);
  };
  visit(program, []);
  await program.parseAsync(argv).catch((err: unknown) => {
    throw new Error(`mesh ${args.join(' ')}: ${errors.join('') || String(err)}`);
  });
  if (!reached) throw new Error(`mesh ${args.join(' ')}: no command ran`);
  return reached;
}

test('the demo\'s "Look further" mesh commands are ones mesh accepts (parsed by the real program, nothing run)', async () => {
  const facts: DemoFacts = { source: 'cluster-a', target: 'cluster-b', network: 'isolated', networkWhy: 'root', kubeconfig: '/k', dir: '/d', flatRoutes: true, results: [], gateways: [] };
  const text = renderReport(facts);
  const section = text.slice(text.indexOf('Look further'));
  const lines = section.split('\n').slice(1).filter((l) => l.startsWith('  '));
  // A command is what is left of a line without its comment, its KUBECONFIG= prefix and the flat note's prose.
  const commands = lines
    .map((l) => l.replace(/\s{2,}#.*$/, '').trim().replace(/^KUBECONFIG=\S+ /, '').replace(/^\(.*?: (mesh .*)\)$/, '$1'))
    .filter((l) => l.startsWith('mesh '));
  assert.ok(commands.length >= 8, `too few commands found in:\n${section}`);
  const reached: string[] = [];
  for (const line of commands) {
    // <placeholders> are one word for the person who fills them in.
    const words: string[] = line.match(/[^\s<]*<[^>]*>\S*|\S+/g) ?? [];
    const r = await meshParses(words.slice(1));
    reached.push(r.command);
    // What a pod runs is a mesh command too (`sandbox exec CLUSTER -- mesh app client …`).
    const inner = words.indexOf('--');
    if (inner > 0 && words[inner + 1] === 'mesh') reached.push((await meshParses(words.slice(inner + 2))).command);
  }
  assert.deepEqual(reached, ['links', 'gateways', 'check', 'dashboard', 'sandbox exec', 'app client', 'sandbox status', 'sandbox logs', 'sandbox route']);
  // And the check has teeth: what mesh refuses, it refuses here too.
  await assert.rejects(meshParses(['links', 'cluster-a', '-o', 'wider']), /argument 'wider' is invalid/);
  await assert.rejects(meshParses(['sandbox', 'logs', '--dir', '/d', 'cluster-b']), /missing required argument 'pod'/);
  await assert.rejects(meshParses(['gateways', 'cluster-a', '--no-such-flag']), /unknown option '--no-such-flag'/);
});

test('KindEnvironment dry-run: flat routes, API server stop/start and traffic are printed, nothing runs', async () => {
  const lines: string[] = [];
  const env = new KindEnvironment('/nonexistent', true, (l) => lines.push(l));
  await env.flatRoute('kind-east', 'kind-west', true);
  await env.stopApiServer('kind-west');
  await env.startApiServer('kind-west');
  const r = await env.traffic('kind-east', { url: 'http://x:1/', count: 1 });
  assert.equal(r.summary.total, 0);
  assert.deepEqual(env.printed, [
    'docker exec east-control-plane ip route del <pod CIDR of kind-west> via <node IP of kind-west>',
    'docker exec west-control-plane ip route del <pod CIDR of kind-east> via <node IP of kind-east>',
    'docker exec west-control-plane mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.stopped',
    'docker exec west-control-plane mv /etc/kubernetes/kube-apiserver.yaml.stopped /etc/kubernetes/manifests/kube-apiserver.yaml',
  ]);
  assert.equal(env.apiAddressFromClusters('kind-west'), 'https://west-control-plane:6443');
  assert.ok(lines.some((l) => l.startsWith('dry-run: POST http://<node of kind-east>')));
});

test('failover act timeline: segments by who answered at each request\'s start, the actions in between; approximate where `at` does not parse', () => {
  const res = (seq: number, at: number | undefined, cluster: string | undefined) => ({ seq, ok: !!cluster, latencyMs: 10, at: at !== undefined ? new Date(at).toISOString() : '?', ...(cluster ? { cluster } : { error: 'read ECONNRESET' }) });
  const summary = { target: 'x', total: 5, ok: 4, failed: 1, byCluster: {}, byPod: {}, latencyMs: { min: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 } };
  const r: ClientReport = { results: [res(1, 1000, 'cluster-a'), res(2, 1060, 'cluster-a'), res(3, 3100, undefined), res(4, 3400, 'cluster-b'), res(5, 3460, 'cluster-b')], summary };
  assert.deepEqual(timeline(r, [{ atMs: 1500, what: 'scale to 0' }], 1000, 50), [
    '  t+  0.0s  2 requests answered by cluster-a',
    '  t+  1.5s  scale to 0',
    '  t+  2.1s  1 request answered by nobody (failed: read ECONNRESET)',
    '  t+  2.4s  2 requests answered by cluster-b',
  ]);
  const old: ClientReport = { results: [res(1, undefined, 'cluster-a'), res(2, undefined, 'cluster-b')], summary };
  assert.deepEqual(timeline(old, [], 0, 50), ['  t+  0.0s  1 request answered by cluster-a', '  t+  0.1s  1 request answered by cluster-b']);
});

test('the README\'s MCS walk-through: its ```sh block is found, every line has a check in scenario 16 and every check its line (no sandbox needed to see drift)', () => {
  const lines = readmeLines();
  assert.ok(lines.length >= 10, lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('mesh link cluster-a cluster-b --both')), lines.join('\n'));
  assert.deepEqual(coverage(lines), { unchecked: [], unused: [] });
  assert.deepEqual(coverage([...lines, 'kubectl delete namespace demo']).unchecked, ['kubectl delete namespace demo']);
  assert.throws(() => walkthroughLines('# x\n## Other\n'), /no "## Multi-Cluster Services API" section/);
  assert.throws(() => walkthroughLines('\n## Multi-Cluster Services API\ntext\n```sh\nmesh x\n```\n'), /does not say/);
  assert.throws(() => walkthroughLines(`\n## Multi-Cluster Services API\n${MARKER}:\n\n## Next\n\`\`\`sh\nmesh x\n\`\`\`\n`), /no ```sh block after/);
  // Another ```sh block earlier in the section (the headless example) is not the walk-through.
  assert.deepEqual(walkthroughLines(`\n## Multi-Cluster Services API\n\`\`\`sh\nmesh export db\n\`\`\`\n${MARKER}:\n\n\`\`\`sh\n# c\nmesh link a b --both   # x\n\`\`\`\n`), ['mesh link a b --both   # x']);
});
