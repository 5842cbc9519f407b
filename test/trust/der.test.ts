// The trust core's own DER encoder (src/trust/der.ts) and what the core may load. OpenSSL is the
// independent judge of the encoding: a certificate re-encoded by `openssl x509 -outform DER` comes back
// byte for byte only if ours was valid DER to begin with.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRoot, createIssuer, issueLeaf, generateKeyPair, createCsr, parseCsr, spiffeId, pemBlocks } from '../../src/trust/index.js';
import { derToOid, oid, readTlv, smallInt, time, octets, OID } from '../../src/trust/der.js';
import { repoRoot } from '../helpers/process.js';
import { importsFrom } from '../helpers/imports.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'trust-der-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('DER encoding', () => {
  it('OIDs round-trip, including arcs above 127 and the first-byte rule', () => {
    for (const o of [...Object.values(OID), '2.5.4.3', '1.2.840.113549.1.9.14', '2.999.3', '1.3.6.1.4.1.311.21.20']) {
      const enc = oid(o);
      assert.equal(enc[0], 0x06);
      const t = readTlv(enc, 0);
      assert.equal(derToOid(enc.subarray(t.contentStart, t.end)), o);
    }
    assert.deepEqual([...oid('1.2.840.10045.2.1')], [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
  });

  it('integers are minimal and positive; lengths use the long form above 127 bytes', () => {
    assert.deepEqual([...smallInt(0)], [0x02, 0x01, 0x00]);
    assert.deepEqual([...smallInt(127)], [0x02, 0x01, 0x7f]);
    assert.deepEqual([...smallInt(128)], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...smallInt(256)], [0x02, 0x02, 0x01, 0x00]);
    assert.deepEqual([...octets(Buffer.alloc(127)).subarray(0, 2)], [0x04, 0x7f]);
    assert.deepEqual([...octets(Buffer.alloc(128)).subarray(0, 3)], [0x04, 0x81, 0x80]);
    assert.deepEqual([...octets(Buffer.alloc(300)).subarray(0, 4)], [0x04, 0x82, 0x01, 0x2c]);
  });

  it('UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280), whole seconds', () => {
    assert.equal(time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59, 999))).toString('latin1'), '\x17\x0d491231235959Z');
    assert.equal(time(new Date(Date.UTC(2050, 0, 1, 0, 0, 0))).toString('latin1'), '\x18\x0f20500101000000Z');
    assert.equal(time(new Date(Date.UTC(2026, 1, 3, 4, 5, 6))).toString('latin1'), '\x17\x0d260203040506Z');
  });

  it('root, issuer, leaf and CSR are valid DER: openssl re-encodes them byte for byte', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
    const root = createRoot({ trustDomain: 'mesh.local', validityDays: 365 * 30 });
    const issuer = createIssuer({ root, clusterName: 'cluster-a' });
    const kp = generateKeyPair();
    const leaf = issueLeaf({ issuer, identity: spiffeId('mesh.local', 'default', 'web'), publicKey: kp.publicKey });
    for (const [name, pem] of [['root', root.certPem], ['issuer', issuer.certPem], ['leaf', leaf.certPem]] as const) {
      const file = join(dir, `${name}.pem`);
      writeFileSync(file, pem);
      const out = join(dir, `${name}.der`);
      await execFileP('openssl', ['x509', '-in', file, '-outform', 'DER', '-out', out]);
      assert.ok(readFileSync(out).equals(pemBlocks(pem, 'CERTIFICATE')[0]!), `${name}: openssl re-encoded it differently`);
    }
    const csr = createCsr({ key: kp.key, identity: spiffeId('mesh.local', 'default', 'web') });
    writeFileSync(join(dir, 'csr.pem'), csr);
    await execFileP('openssl', ['req', '-in', join(dir, 'csr.pem'), '-outform', 'DER', '-out', join(dir, 'csr.der')]);
    assert.ok(readFileSync(join(dir, 'csr.der')).equals(parseCsr(csr).der));
  });
});

describe('the trust core stays light', () => {
  // The gateway loads the core on every start; gRPC, the Kubernetes client and an ASN.1 library would cost
  // it tens of MB of memory. Follows every import from src/trust/index.ts, across components.
  it('src/trust imports neither gRPC, the Kubernetes client, node-forge nor src/kube (transitively); of the other components only src/api', () => {
    const { files, edges } = importsFrom('src/trust/index.ts', { dynamic: true });
    assert.deepEqual(edges.filter((e) => /^(@grpc\/|@kubernetes\/client-node|node-forge)/.test(e.spec)).map((e) => `${e.from} → ${e.spec}`), []);
    // src/api (the contracts, zod only) holds the one SPIFFE id format the core writes.
    assert.deepEqual([...files].filter((f) => !f.startsWith('src/trust/') && !f.startsWith('src/api/')), [], 'the core imports no other component but src/api');
    // The walk saw the whole core.
    const core = readdirSync(join(repoRoot, 'src/trust')).filter((f) => f.endsWith('.ts'));
    assert.deepEqual(core.filter((f) => !files.has(`src/trust/${f}`)), [], 'every file of src/trust is reachable from its index');
  });
});
