// The landing page: the whole clusterset at a glance. A card per cluster (reachable? mesh installed?
// controller and gateway, its Links and their health), then every Link, then every exported Service with
// where it is imported.
import type { ClusterView, ExportView, LinkView, OverviewResponse } from '../model.js';
import { ago, badge, dot, h, table } from './dom.js';
import { definePage } from './page.js';

export function clusterCard(c: ClusterView, links: LinkView[], exports: ExportView[]): HTMLElement {
  const name = c.name ?? c.context;
  const out = links.filter((l) => l.sourceContext === c.context);
  const inbound = links.filter((l) => c.name !== null && l.target === c.name);
  const exported = exports.filter((e) => e.cluster === c.name);
  return h('div', { class: 'card', 'data-cluster-card': c.context, 'data-health': c.health },
    h('h3', {}, name, ' ', badge(c.health, !c.reachable ? 'unreachable' : !c.mesh.installed ? 'no mesh' : undefined)),
    h('div', { class: 'muted small' }, `context ${c.context} · ${c.server || 'no server'}${c.version ? ` · ${c.version}` : ''}`),
    !c.reachable ? h('p', { class: 'error' }, `Unreachable: ${c.error ?? 'no answer'}`, h('br'), h('span', { class: 'muted small' }, `last contact ${ago(c.lastContact)}; the other clusters keep working`)) : null,
    c.reachable && !c.mesh.installed ? h('p', { class: 'muted' }, 'The mesh is not installed here (no mesh-system namespace with a cluster name).') : null,
    c.mesh.installed ? h('dl', { class: 'kv' },
      h('dt', {}, 'controller'), h('dd', {}, c.mesh.controller ? `${c.mesh.controller.ready}/${c.mesh.controller.want} ready` : 'missing'),
      h('dt', {}, 'gateway'), h('dd', {}, c.gateway ? `${c.gateway.ready}/${c.gateway.total} ready${c.gateway.openTunnels ? `, ${c.gateway.openTunnels.outbound} out / ${c.gateway.openTunnels.inbound} in tunnels` : ''}` : '–'),
      h('dt', {}, 'links out'), h('dd', {}, out.length ? h('span', {}, ...out.map((l) => h('span', { class: 'chip' }, dot(l.health, l.reason), `→ ${l.target}`))) : 'none'),
      h('dt', {}, 'linked from'), h('dd', {}, inbound.length ? inbound.map((l) => l.source).join(', ') : 'none'),
      h('dt', {}, 'exports'), h('dd', {}, String(exported.length)),
      h('dt', {}, 'trust domain'), h('dd', {}, c.mesh.trustDomain ?? '–'),
    ) : null,
    c.reachable && c.error ? h('p', { class: 'small error' }, c.error) : null,
  );
}

export function linksTable(links: LinkView[]): Node {
  if (links.length === 0) return h('p', { class: 'muted' }, 'No Links yet: mesh link SOURCE TARGET makes one.');
  return table(['', 'Link', 'Mode', 'Condition', 'Probe', 'Services'], links.map((l) =>
    h('tr', { 'data-link': `${l.source}->${l.target}`, 'data-health': l.health },
      h('td', {}, dot(l.health)),
      h('td', {}, `${l.source} → ${l.target}`, l.stale ? h('span', { class: 'muted small' }, ' (stale)') : null),
      h('td', {}, l.mode),
      h('td', {}, l.reason),
      h('td', {}, l.probe ? `${l.probe.success ? 'ok' : 'failed'}${l.probe.latencyMs !== undefined ? `, ${l.probe.latencyMs.toFixed(1)} ms` : ''}` : '–'),
      h('td', { class: 'num' }, `${l.mirroredServices}${l.problems.length ? ` (${l.problems.length} not mirrored)` : ''}`),
    )));
}

function exportsTable(exports: ExportView[]): Node {
  if (exports.length === 0) return h('p', { class: 'muted' }, 'No exported Services: mesh export SERVICE -n NS --context CLUSTER.');
  return table(['', 'Service', 'From', 'Mode', 'Imported in'], exports.map((e) =>
    h('tr', { 'data-export': e.id },
      h('td', {}, dot(e.health)),
      h('td', {}, `${e.namespace}/${e.name}`),
      h('td', {}, e.cluster),
      h('td', {}, e.modes.join(', ')),
      h('td', {}, e.imports.length ? h('span', {}, ...e.imports.map((i) => h('span', { class: i.problem ? 'chip problem' : 'chip', title: i.problem ?? '' }, `${i.cluster}: ${i.name}`))) : h('span', { class: 'muted' }, 'not imported yet')),
    )));
}

export const overviewPage = definePage<OverviewResponse>({
  id: 'overview',
  title: 'Overview',
  endpoint: '/api/overview',
  resource: 'state',
  render(d) {
    const failing = d.clusters.filter((c) => !c.reachable).length;
    const bad = d.links.filter((l) => l.health === 'failed').length;
    return h('div', {},
      h('h1', {}, 'Clusterset'),
      h('p', { class: 'muted' }, `${d.clusters.length} cluster(s), ${d.links.length} Link(s), ${d.exports.length} exported Service(s)${failing ? `; ${failing} unreachable` : ''}${bad ? `; ${bad} Link(s) failing` : ''}.`),
      h('div', { class: 'grid' }, ...d.clusters.map((c) => clusterCard(c, d.links, d.exports))),
      h('h2', {}, 'Links'),
      linksTable(d.links),
      h('h2', {}, 'Exported services'),
      exportsTable(d.exports),
    );
  },
});
