// Services: every export (a Service labelled for export, or an MCS ServiceExport), its mode, its ready
// endpoints where it runs, and each place it is imported — a shadow (from the Link's status, with its own
// ready endpoints) or an MCS ServiceImport — with conflicts and problems in red.
import type { ExportView, ServicesResponse } from '../model.js';
import { badge, dot, h, table } from './dom.js';
import { definePage } from './page.js';

function importsCell(e: ExportView): Node {
  if (e.imports.length === 0) return h('span', { class: 'muted' }, 'not imported yet');
  return h('div', {}, ...e.imports.map((i) => h('div', { 'data-import': `${i.cluster}/${i.name}` },
    dot(i.problem ? 'failed' : i.readyEndpoints === 0 ? 'warn' : 'ok'),
    h('strong', {}, i.cluster), ': ',
    h('span', { class: 'mono' }, i.name),
    ` (${i.kind === 'serviceimport' ? `ServiceImport, ${i.mode}` : i.mode}) `,
    i.problem ? h('span', { class: 'chip problem' }, i.problem) : h('span', { class: 'muted small' }, `${i.readyEndpoints ?? '?'} ready endpoint(s)`),
  )));
}

export const servicesPage = definePage<ServicesResponse>({
  id: 'services',
  title: 'Services',
  endpoint: '/api/services',
  resource: 'state',
  render(d) {
    const mcs = Object.entries(d.mcs);
    const rows = d.exports.map((e) => h('tr', { 'data-export': e.id, 'data-health': e.health },
      h('td', {}, badge(e.health)),
      h('td', {}, h('strong', {}, `${e.namespace}/${e.name}`), h('div', { class: 'muted small' }, e.ports.join(', '))),
      h('td', {}, e.cluster),
      h('td', {}, e.modes.join(', ')),
      h('td', { class: 'num' }, e.readyEndpoints === null ? '?' : String(e.readyEndpoints)),
      h('td', {}, importsCell(e)),
      h('td', {}, e.conflicts.length ? h('div', {}, ...e.conflicts.map((c) => h('div', { class: 'chip problem' }, c))) : h('span', { class: 'muted' }, 'none')),
    ));
    return h('div', {},
      h('h1', {}, 'Services'),
      h('p', { class: 'muted' }, `${d.exports.length} exported Service(s). Shadows are named <service>-<cluster> (long names are cut and end in a hash). MCS API (multicluster.x-k8s.io): ${mcs.map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ') || '–'}.`),
      d.exports.length ? table(['', 'Service', 'Exported from', 'Mode', ['Ready', 'num'], 'Imported in', 'Conflicts'], rows) : h('p', { class: 'muted' }, 'Nothing exported yet: mesh export SERVICE -n NS --context CLUSTER.'),
    );
  },
});
