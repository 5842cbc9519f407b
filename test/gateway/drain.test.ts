// A draining gateway serves the CONNECTs a pooled peer sent before it read the GOAWAY notice (issue 17
// item 1: refused DRAINING, such a request was replayed onto a sibling session to the same draining
// replica and lost). The peer here is a gateway's own HTTP/2 client on a real mTLS session to gateway B; it
// sends its CONNECT in the same turn as B's drain starts, so the request crosses B's GOAWAY notice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as h2connect, type H2Stream } from '../../src/h2/index.js';
import { ALPN_H2, serverContext } from '../../src/gateway/tls.js';
import { dial } from '../../src/gateway/pool/connect.js';
import { startPair } from './pair.js';
import { collect } from '../h2/fixtures.js';

test('a CONNECT crossing the GOAWAY notice of a draining gateway is tunnelled, then the session ends', async () => {
  const p = await startPair('connect');
  try {
    const { sock } = await dial({ address: '127.0.0.1', port: p.b.tunnelPort, alpn: ALPN_H2, context: serverContext(p.pki.leaf('cluster-a')), trustDomain: 'mesh.local', timeoutMs: 10_000 });
    const session = h2connect(sock);
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    const drained = p.b.drain(10_000, 0);
    // Same turn: B has sent its notice, we have not read it.
    const st: H2Stream = session.request({ ':method': 'CONNECT', ':authority': 'echo.demo.svc.cluster.local:7' });
    st.on('error', () => {});
    const status = await new Promise<string>((resolve) => {
      st.once('response', (h) => resolve(String(h[':status'])));
      st.once('close', () => resolve(`closed (rst ${String(st.rstCode)})`));
    });
    assert.equal(status, '200', 'the tunnel opened, not refused');
    const data = randomBytes(2_000);
    st.end(data);
    assert.deepEqual(await collect(st), data, 'the echo came back through the draining gateway');
    await new Promise<void>((resolve) => (session.closed ? resolve() : session.once('close', () => resolve())));
    assert.deepEqual(await drained, { forced: 0 }, 'the drain ended with nothing cut off');
  } finally {
    await p.close();
  }
});
