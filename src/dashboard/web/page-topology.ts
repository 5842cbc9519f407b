// Topology: clusters as nodes on a circle, Links as directed edges coloured by the Link's conditions (red
// as soon as one fails: the gateway probe, credentials, the remote API). Each node shows its gateway's
// liveness and open tunnels, each edge the probe latency; clicking one shows its details beside the graph.
import type { ClusterView, LinkView, TopologyResponse } from '../model.js';
import { HEALTH_COLOUR, HEALTH_WORD, ago, badge, dot, h, ms, s, table } from './dom.js';
import { definePage } from './page.js';

const W = 760;
const H = 520;
const NODE_W = 170;
const NODE_H = 62;

type Selected = { kind: 'node'; id: string } | { kind: 'edge'; id: string } | null;
let selected: Selected = null;

interface NodePos {
  id: string;
  x: number;
  y: number;
  cluster?: ClusterView;
}

function layout(d: TopologyResponse): NodePos[] {
  const ids = [...d.clusters.map((c) => ({ id: c.name ?? c.context, cluster: c })), ...d.external.map((id) => ({ id, cluster: undefined }))];
  const n = ids.length;
  const r = n <= 1 ? 0 : Math.min(W, H) / 2 - NODE_H - 10;
  return ids.map((x, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, n);
    return { id: x.id, cluster: x.cluster, x: W / 2 + r * Math.cos(a) * 1.25, y: H / 2 + r * Math.sin(a) };
  });
}

/** Where the line from the centre of a node towards (tx, ty) leaves its box. */
function boxExit(p: NodePos, tx: number, ty: number): [number, number] {
  const dx = tx - p.x;
  const dy = ty - p.y;
  const sx = dx === 0 ? Infinity : (NODE_W / 2 + 6) / Math.abs(dx);
  const sy = dy === 0 ? Infinity : (NODE_H / 2 + 6) / Math.abs(dy);
  const k = Math.min(sx, sy);
  return [p.x + dx * k, p.y + dy * k];
}

function edge(l: LinkView, from: NodePos, to: NodePos, rerender: () => void): SVGGElement {
  // Two Links between the same pair (A→B and B→A) bend to opposite sides, so both stay visible.
  const mx = (from.x + to.x) / 2;
  const my = (from.y + to.y) / 2;
  const len = Math.hypot(to.x - from.x, to.y - from.y) || 1;
  const bend = 40;
  const cx = mx + (-(to.y - from.y) / len) * bend;
  const cy = my + ((to.x - from.x) / len) * bend;
  const [x1, y1] = boxExit(from, cx, cy);
  const [x2, y2] = boxExit(to, cx, cy);
  const path = `M ${x1} ${y1} Q ${cx} ${cy} ${x2} ${y2}`;
  const colour = HEALTH_COLOUR[l.health];
  const key = `${l.source}->${l.target}`;
  const select = () => {
    selected = { kind: 'edge', id: l.id };
    rerender();
  };
  const label = l.mode === 'flat' ? 'flat' : [l.probe?.latencyMs !== undefined ? ms(l.probe.latencyMs) : null, l.openTunnels !== null ? `${l.openTunnels} tunnel${l.openTunnels === 1 ? '' : 's'}` : null].filter(Boolean).join(' · ');
  const isSel = selected?.kind === 'edge' && selected.id === l.id;
  return s('g', { 'data-edge': key, 'data-health': l.health, onclick: select },
    s('title', {}, `${l.source} → ${l.target}: ${HEALTH_WORD[l.health]} — ${l.reason}`),
    s('path', { class: 'edge-hit', d: path }),
    s('path', { class: isSel ? 'edge selected' : 'edge', d: path, stroke: colour, 'marker-end': `url(#arrow-${l.health})`, 'stroke-dasharray': l.mode === 'flat' ? '6 4' : undefined }),
    s('text', { class: 'edge-label', x: (x1 + 2 * cx + x2) / 4, y: (y1 + 2 * cy + y2) / 4 - 6, 'text-anchor': 'middle' }, label),
  );
}

function node(p: NodePos, rerender: () => void): SVGGElement {
  const c = p.cluster;
  const health = c?.health ?? 'unknown';
  const gw = c?.gateway;
  const sub = !c ? 'not in this kubeconfig' : !c.reachable ? 'unreachable' : !c.mesh.installed ? 'mesh not installed' : gw ? `gateway ${gw.ready}/${gw.total}${gw.openTunnels ? ` · ${gw.openTunnels.outbound + gw.openTunnels.inbound} tunnels` : ''}` : 'no gateway';
  const isSel = selected?.kind === 'node' && selected.id === p.id;
  return s('g', { class: `node${c ? '' : ' external'}${isSel ? ' selected' : ''}`, 'data-node': p.id, 'data-health': health, transform: `translate(${p.x - NODE_W / 2} ${p.y - NODE_H / 2})`, onclick: () => {
    selected = { kind: 'node', id: p.id };
    rerender();
  } },
    s('title', {}, `${p.id}: ${c ? c.summary : 'a Link target that no context of the kubeconfig reaches'}`),
    s('rect', { width: NODE_W, height: NODE_H, rx: 10, stroke: HEALTH_COLOUR[health] }),
    s('circle', { cx: 16, cy: 20, r: 6, fill: gw ? HEALTH_COLOUR[gw.health] : HEALTH_COLOUR.unknown }),
    s('text', { x: 28, y: 25, 'font-weight': 600 }, p.id),
    s('text', { class: 'sub', x: 14, y: 46 }, sub),
  );
}

function markers(): SVGDefsElement {
  return s('defs', {}, ...(['ok', 'warn', 'failed', 'unknown'] as const).map((hl) =>
    s('marker', { id: `arrow-${hl}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: HEALTH_COLOUR[hl] }))));
}

function linkDetail(l: LinkView): Node {
  return h('div', { class: 'card', 'data-health': l.health, 'data-detail': `edge:${l.source}->${l.target}` },
    h('h3', {}, `Link ${l.source} → ${l.target} `, badge(l.health)),
    h('p', {}, l.reason),
    h('dl', { class: 'kv' },
      h('dt', {}, 'mode'), h('dd', {}, l.mode),
      h('dt', {}, 'remote gateway'), h('dd', { class: 'mono' }, l.gatewayAddress ?? '–'),
      h('dt', {}, 'last probe'), h('dd', {}, l.probe ? `${l.probe.success ? 'ok' : 'failed'}${l.probe.latencyMs !== undefined ? `, ${ms(l.probe.latencyMs)}` : ''}, ${ago(l.probe.time)}${l.probe.message ? ` — ${l.probe.message}` : ''}` : '–'),
      h('dt', {}, 'open tunnels'), h('dd', {}, l.openTunnels === null ? '–' : String(l.openTunnels)),
      h('dt', {}, 'mirrored'), h('dd', {}, String(l.mirroredServices)),
    ),
    h('h3', { class: 'small' }, 'Conditions'),
    h('div', {}, ...l.conditions.map((c) => h('div', { class: 'cond', 'data-condition': c.type },
      dot(c.status === 'True' ? (c.type === 'Conflict' ? 'warn' : 'ok') : c.status === 'False' ? (c.type === 'Conflict' ? 'ok' : 'failed') : 'unknown'),
      h('strong', {}, `${c.type}=${c.status}`), ` ${c.reason} `, h('span', { class: 'muted small' }, ago(c.lastTransitionTime)),
      c.message ? h('div', { class: 'muted small' }, c.message) : null))),
    l.problems.length ? h('div', {}, h('h3', { class: 'small' }, 'Not mirrored'), ...l.problems.map((p) => h('div', { class: 'chip problem' }, `${p.service}: ${p.problem}`))) : null,
    h('p', { class: 'small' }, h('a', { href: '/traffic', 'data-nav': true }, 'traffic of this Link →')),
  );
}

function clusterDetail(id: string, c: ClusterView | undefined, links: LinkView[]): Node {
  if (!c) return h('div', { class: 'card', 'data-health': 'unknown' }, h('h3', {}, id), h('p', { class: 'muted' }, 'A Link target that no context of this kubeconfig reaches: add its context to see it.'));
  const gw = c.gateway;
  return h('div', { class: 'card', 'data-health': c.health, 'data-detail': `node:${id}` },
    h('h3', {}, `${id} `, badge(c.health, c.reachable ? undefined : 'unreachable')),
    h('p', { class: c.reachable ? 'muted' : 'error' }, c.reachable ? c.summary : `Unreachable: ${c.error ?? ''}`),
    h('dl', { class: 'kv' },
      h('dt', {}, 'context'), h('dd', {}, c.context),
      h('dt', {}, 'API server'), h('dd', { class: 'mono' }, c.server),
      h('dt', {}, 'version'), h('dd', {}, c.version ?? '–'),
      h('dt', {}, 'links out'), h('dd', {}, links.filter((l) => l.sourceContext === c.context).map((l) => l.target).join(', ') || 'none'),
      h('dt', {}, 'MCS API'), h('dd', {}, c.mcs ? 'served' : 'not installed'),
    ),
    gw ? h('div', {}, h('h3', { class: 'small' }, `Gateway pods (${gw.ready}/${gw.total} ready)`),
      table(['Pod', 'Ready', 'Admin /ready'], gw.pods.map((p) => h('tr', { 'data-gateway-pod': p.name },
        h('td', { class: 'mono' }, p.name), h('td', {}, dot(p.ready ? 'ok' : 'failed'), p.ready ? 'yes' : 'no'),
        h('td', {}, p.live === null ? '–' : p.live ? 'answers' : `no: ${p.error ?? ''}`)))),
      gw.openTunnels ? h('p', { class: 'small' }, `Open tunnels: ${gw.openTunnels.outbound} outbound (${Object.entries(gw.tunnelsByRemote).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}), ${gw.openTunnels.inbound} inbound`) : null)
      : null,
  );
}

export const topologyPage = definePage<TopologyResponse>({
  id: 'topology',
  title: 'Topology',
  endpoint: '/api/topology',
  resource: 'state',
  render(d, reload) {
    const pos = layout(d);
    const at = new Map(pos.map((p) => [p.id, p]));
    const rerender = () => reload();
    const edges = d.links.flatMap((l) => {
      const from = at.get(l.source);
      const to = at.get(l.target);
      return from && to ? [edge(l, from, to, rerender)] : [];
    });
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'clusters and links', 'data-clusters': d.clusters.length, 'data-links': d.links.length }, markers(), ...edges, ...pos.map((p) => node(p, rerender)));
    const sel = selected;
    const detail = sel?.kind === 'edge' ? d.links.find((l) => l.id === sel.id) : undefined;
    const side = detail ? linkDetail(detail) : sel?.kind === 'node' ? clusterDetail(sel.id, d.clusters.find((c) => (c.name ?? c.context) === sel.id), d.links)
      : h('div', { class: 'card', 'data-health': 'unknown' }, h('h3', {}, 'Details'), h('p', { class: 'muted' }, 'Click a cluster or a Link.'));
    return h('div', {},
      h('h1', {}, 'Topology'),
      h('div', { class: 'legend' },
        ...(['ok', 'warn', 'failed', 'unknown'] as const).map((x) => h('span', {}, dot(x), HEALTH_WORD[x])),
        h('span', {}, `edges: Links, source → target, coloured by their conditions (the controller probes every ${Math.round(d.probePeriodMs / 100) / 10} s), red at once when the dashboard sees the target's gateway down; dashed: flat mode`)),
      h('div', { class: 'topo' }, svg, h('div', { class: 'detail' }, side)),
    );
  },
});
