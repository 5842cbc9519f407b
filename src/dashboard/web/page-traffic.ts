// Traffic: per Link (the source gateways' outbound tunnels to the target) and per exported Service (the
// exporting gateways' inbound tunnels to it): tunnels/s (one per TCP connection, so per request for
// clients that connect per request), bytes/s, open tunnels, refusals by reason and tunnel-open latency, each row with a
// chart of the last minutes (blue: tunnels/s; purple: latency). The dashboard samples the gateways' /metrics.
import type { TrafficResponse, TrafficRow } from '../model.js';
import { bytes, h, ms, num, table } from './dom.js';
import { span, sparkline } from './chart.js';
import { definePage } from './page.js';

function rows(list: TrafficRow[], d: TrafficResponse): Node[] {
  return list.map((r) => {
    const refusals = Object.entries(r.refusals);
    const peak = Math.max(0, ...r.series.requests.v);
    return h('tr', { 'data-traffic': r.id },
      h('td', {}, h('strong', {}, r.title), h('div', { class: 'muted small' }, `measured by ${r.measuredIn}'s gateways`)),
      h('td', { class: 'num', 'data-rate': r.requestsPerSec ?? '' }, num(r.requestsPerSec)),
      h('td', { class: 'num' }, r.kind === 'link' ? num(r.connectionsPerSec) : '–'),
      h('td', { class: 'num' }, r.bytesPerSec === null ? '–' : `${bytes(r.bytesPerSec)}/s`),
      h('td', { class: 'num' }, r.activeTunnels === null ? '–' : String(r.activeTunnels)),
      h('td', {}, refusals.length ? h('div', {}, ...refusals.map(([k, v]) => h('span', { class: 'chip problem' }, `${k} ${v}`))) : h('span', { class: 'muted' }, 'none')),
      h('td', { class: 'num', title: r.latencyMs.source, 'data-latency-p50': r.latencyMs.p50 ?? '' }, `${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p95)}`,
        r.kind === 'link' ? h('div', { class: 'muted small', title: 'the controller\'s probe round trip (mTLS GET /live)' }, `probe ${ms(r.probeMs)}`) : null),
      h('td', {}, sparkline(r.series.requests, d.windowMs, d.now, { title: `${r.title}: tunnels/s over the last ${Math.max(1, Math.round(span(r.series.requests, d.windowMs, d.now) / 60000))} min (peak ${num(peak)}/s); purple: latency`, second: r.series.latency })),
    );
  });
}

const HEAD: Array<string | [string, string]> = ['', ['Tunnels/s', 'num'], ['Conn/s', 'num'], ['Bytes/s', 'num'], ['Open', 'num'], 'Refused (window)', ['Latency p50 / p95', 'num'], 'Last minutes (up to 15)'];

export const trafficPage = definePage<TrafficResponse>({
  id: 'traffic',
  title: 'Traffic',
  endpoint: '/api/traffic',
  resource: 'traffic',
  render(d) {
    const problems = Object.entries(d.problems);
    return h('div', {},
      h('h1', {}, 'Traffic'),
      h('p', { class: 'muted' }, `From the gateways' Prometheus metrics, sampled every ${num(d.intervalMs / 1000)} s through the API servers; the last ${Math.round(d.windowMs / 60000)} minutes are kept. Latency is the time to open a tunnel: for a Link, the source gateway's until the remote gateway answered (the controller's probe round trip below it); for a Service, the exporting gateway's to connect to one of its backends.`),
      problems.length ? h('div', { class: 'banner' }, ...problems.map(([c, p]) => h('div', {}, `${c}: ${p}`))) : null,
      h('h2', {}, 'Per Link'),
      d.links.length ? table(['Link', ...HEAD.slice(1)], rows(d.links, d)) : h('p', { class: 'muted' }, 'No Links through gateways.'),
      h('h2', {}, 'Per exported Service'),
      d.services.length ? table(['Service', ...HEAD.slice(1)], rows(d.services, d)) : h('p', { class: 'muted' }, 'No Services exported through gateways.'),
    );
  },
});
