// A hostile client of a remote gateway, run from inside a cluster's network (`mesh sandbox exec … node
// dist/test/e2e/gateway-probe.js '<json>'`): opens mTLS (with the given client certificate, or none) to the
// gateway's tunnel port and tries HTTP/2 CONNECT to each authority. Prints one JSON line with what happened.
import tls from 'node:tls';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';

interface Input { host: string; port: number; ca: string; cert?: string; key?: string; authorities: string[] }
export interface ProbeOutput { connected: boolean; error?: string; results: Array<{ authority: string; status?: number; reason?: string; error?: string }> }

async function probe(i: Input): Promise<ProbeOutput> {
  const out: ProbeOutput = { connected: false, results: [] };
  const session = await new Promise<http2.ClientHttp2Session>((res, rej) => {
    const s = http2.connect(`https://${i.host}:${i.port}`, {
      createConnection: () => tls.connect({
        host: i.host, port: i.port, ALPNProtocols: ['h2'], ca: readFileSync(i.ca, 'utf8'),
        ...(i.cert && i.key ? { cert: readFileSync(i.cert, 'utf8'), key: readFileSync(i.key, 'utf8') } : {}),
        // The gateway's SAN is a SPIFFE URI, not a host name: the chain is what this client checks.
        checkServerIdentity: () => undefined,
      }),
    });
    const t = setTimeout(() => { s.destroy(); rej(new Error('no HTTP/2 session within 5s')); }, 5_000);
    s.once('remoteSettings', () => { clearTimeout(t); res(s); });
    s.once('error', (e) => { clearTimeout(t); rej(e); });
    s.once('close', () => { clearTimeout(t); rej(new Error('connection closed by the gateway')); });
  }).catch((e: Error) => e);
  if (session instanceof Error) return { ...out, error: session.message };
  out.connected = true;
  for (const authority of i.authorities) {
    const r = await new Promise<ProbeOutput['results'][number]>((res) => {
      const st = session.request({ ':method': 'CONNECT', ':authority': authority });
      const t = setTimeout(() => { st.close(); res({ authority, error: 'no answer within 5s' }); }, 5_000);
      st.once('response', (h) => { clearTimeout(t); res({ authority, status: Number(h[':status']), reason: String(h['mesh-refusal-reason'] ?? '') }); st.close(); });
      st.once('error', (e: Error) => { clearTimeout(t); res({ authority, error: e.message }); });
      st.once('close', () => { clearTimeout(t); res({ authority, error: 'stream closed without a response' }); });
    });
    out.results.push(r);
  }
  session.destroy();
  return out;
}

const arg = process.argv[2];
if (arg) {
  void probe(JSON.parse(arg) as Input).then((o) => { process.stdout.write(JSON.stringify(o) + '\n'); process.exit(0); }, (e: Error) => {
    process.stdout.write(JSON.stringify({ connected: false, error: e.message, results: [] }) + '\n');
    process.exit(0);
  });
}
