// Trust material on disk: root.crt/root.key (kept off-cluster) and issuer.crt/issuer.key per cluster.
// Keys are written 0600 and never overwritten silently.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrustError } from './errors.js';
import { loadAuthority, type CertificateAuthority } from './pki.js';

export const ROOT_CERT_FILE = 'root.crt';
export const ROOT_KEY_FILE = 'root.key';
export const ISSUER_CERT_FILE = 'issuer.crt';
export const ISSUER_KEY_FILE = 'issuer.key';

const names = (kind: 'root' | 'issuer') => (kind === 'root' ? [ROOT_CERT_FILE, ROOT_KEY_FILE] : [ISSUER_CERT_FILE, ISSUER_KEY_FILE]) as [string, string];

export async function writeAuthority(dir: string, ca: CertificateAuthority, opts: { overwrite?: boolean } = {}): Promise<{ certPath: string; keyPath: string }> {
  const [crt, key] = names(ca.kind);
  const certPath = join(dir, crt);
  const keyPath = join(dir, key);
  if (!opts.overwrite) {
    for (const p of [certPath, keyPath]) if (existsSync(p)) throw new TrustError('FILE_ERROR', `${p} already exists; refusing to overwrite trust material`);
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(keyPath, ca.keyPem, { mode: 0o600 });
    await writeFile(certPath, ca.certPem, { mode: 0o644 });
  } catch (err) {
    throw new TrustError('FILE_ERROR', `could not write ${ca.kind} to ${dir}: ${(err as Error).message}`);
  }
  return { certPath, keyPath };
}

export async function readAuthority(dir: string, kind: 'root' | 'issuer'): Promise<CertificateAuthority> {
  const [crt, key] = names(kind);
  let certText: string;
  let keyText: string;
  try {
    [certText, keyText] = await Promise.all([readFile(join(dir, crt), 'utf8'), readFile(join(dir, key), 'utf8')]);
  } catch (err) {
    throw new TrustError('FILE_ERROR', `could not read ${kind} from ${dir} (expected ${crt} and ${key}): ${(err as Error).message}`);
  }
  return loadAuthority(kind, certText, keyText);
}

export const writeRoot = (dir: string, root: CertificateAuthority, opts?: { overwrite?: boolean }) => writeAuthority(dir, root, opts);
export const readRoot = (dir: string) => readAuthority(dir, 'root');
export const writeIssuer = (dir: string, issuer: CertificateAuthority, opts?: { overwrite?: boolean }) => writeAuthority(dir, issuer, opts);
export const readIssuer = (dir: string) => readAuthority(dir, 'issuer');
