// Identity: per cluster, the trust roots it trusts and the issuer that signs its workloads' certificates,
// with their expiry, and where a root rotation stands. Certificates are public; no key is ever sent here.
import type { CertView, ClusterTrustView, IdentityResponse } from '../model.js';
import { badge, h } from './dom.js';
import { definePage } from './page.js';

const short = (fp: string) => `${fp.slice(0, 23)}…`;
const left = (c: CertView) => (c.daysLeft < 0 ? 'expired' : `${c.daysLeft} days`);

function clusterCard(c: ClusterTrustView): Node {
  return h('div', { class: 'card', 'data-trust': c.cluster, 'data-health': c.health, 'data-rotation': c.rotation },
    h('h3', {}, `${c.cluster} `, badge(c.health, c.reachable ? undefined : 'unreachable')),
    h('p', {}, h('strong', {}, 'Rotation: '), c.rotationText),
    h('h3', { class: 'small' }, `Trust roots (${c.roots.length})`),
    c.roots.length ? h('div', {}, ...c.roots.map((r) => h('dl', { class: 'kv root' },
      h('dt', {}, 'subject'), h('dd', {}, r.subject),
      h('dt', {}, 'fingerprint'), h('dd', { class: 'mono', title: r.fingerprint }, short(r.fingerprint)),
      h('dt', {}, 'trust domain'), h('dd', {}, r.trustDomain ?? '–'),
      h('dt', {}, 'valid'), h('dd', {}, `${r.notBefore} – ${r.notAfter} (${left(r)} left)`)))) : h('p', { class: 'muted' }, 'none read'),
    h('h3', { class: 'small' }, 'Issuer'),
    c.issuer ? h('dl', { class: 'kv' },
      h('dt', {}, 'subject'), h('dd', {}, c.issuer.subject),
      h('dt', {}, 'valid'), h('dd', {}, `${c.issuer.notBefore} – ${c.issuer.notAfter} (${left(c.issuer)} left)`),
      h('dt', {}, 'fingerprint'), h('dd', { class: 'mono', title: c.issuer.fingerprint }, short(c.issuer.fingerprint)),
      h('dt', {}, 'signed by'), h('dd', { class: c.issuer.signedBy ? 'mono' : 'error' }, c.issuer.signedBy ? short(c.issuer.signedBy) : 'no root of the bundle'),
    ) : h('p', { class: 'muted' }, 'none read'),
    c.problems.length ? h('div', {}, ...c.problems.map((p) => h('div', { class: 'chip problem' }, p))) : null,
  );
}

export const identityPage = definePage<IdentityResponse>({
  id: 'identity',
  title: 'Identity',
  endpoint: '/api/identity',
  resource: 'state',
  render(d) {
    return h('div', {},
      h('h1', {}, 'Identity'),
      h('p', { class: 'muted' }, 'One shared root signs an issuer per cluster; issuers sign 24 h workload certificates. A rotation adds the new root to every bundle (step 1), reissues the issuers under it (step 2), then removes the old root (step 3): mesh trust rotate --help.'),
      h('div', { class: d.shared.ok ? 'banner ok' : 'banner failed', 'data-shared-root': String(d.shared.ok) }, d.shared.ok ? `Shared root: ${d.shared.detail}` : `No shared root: ${d.shared.detail}`),
      h('div', { class: 'grid wide' }, ...d.clusters.map(clusterCard)),
    );
  },
});
