// Static checks of the Dockerfile (no Docker engine and no hadolint on this machine): stages, non-root
// user, entrypoint, production-only dependencies, and that everything it COPYs from the context exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { repoRoot } from '../helpers/process.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile grammar as far as we use it: comments, `\` continuations, one instruction per line. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (buf === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' ';
      return;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(buf);
    assert.ok(m, `Dockerfile line ${start}: cannot parse ${JSON.stringify(buf)}`);
    out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start });
    buf = '';
  });
  return out;
}

function stages(ins: Instruction[]): { name: string; base: string; body: Instruction[] }[] {
  const out: { name: string; base: string; body: Instruction[] }[] = [];
  for (const i of ins) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      assert.ok(m, `FROM at line ${i.line}`);
      out.push({ base: m[1], name: m[2] ?? String(out.length), body: [] });
    } else {
      assert.ok(out.length > 0, `${i.op} before FROM at line ${i.line}`);
      out[out.length - 1].body.push(i);
    }
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(resolve(repoRoot, 'Dockerfile'), 'utf8'));
const st = stages(dockerfile);

test('Dockerfile: two stages on a Node 20 slim base, build then runtime', () => {
  assert.deepEqual(st.map((s) => s.name), ['build', 'runtime']);
  for (const s of st) assert.match(s.base, /^node:20(\.\d+)*-(bookworm-slim|slim|alpine)/, `stage ${s.name} base ${s.base}`);
  const buildRuns = st[0].body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  assert.match(buildRuns, /npm ci\b/);
  assert.match(buildRuns, /npm run build/);
  const runtimeRuns = st[1].body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  assert.match(runtimeRuns, /npm ci --omit=dev/);
  assert.doesNotMatch(runtimeRuns, /npm run build|npm install\b/);
});

test('Dockerfile: runtime runs as a non-root user with the mesh entrypoint', () => {
  const rt = st[1].body;
  const users = rt.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0, 'runtime stage sets no USER (it would run as root)');
  const last = users[users.length - 1].args;
  const [user] = last.split(':');
  assert.ok(user !== 'root' && user !== '0', `USER ${last} is root`);
  // Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
  assert.match(user, /^\d+$/);
  const lastUserIdx = rt.lastIndexOf(users[users.length - 1]);
  assert.ok(!rt.slice(lastUserIdx).some((i) => i.op === 'RUN'), 'no RUN after dropping to the non-root user needed');
  const ep = rt.filter((i) => i.op === 'ENTRYPOINT');
  assert.equal(ep.length, 1);
  assert.deepEqual(JSON.parse(ep[0].args), ['node', '/app/bin/mesh.js']);
});

test('Dockerfile: the runtime gets dist/, bin/, protos, manifests and the dashboard page; every COPY source exists', () => {
  const copies = dockerfile.filter((i) => i.op === 'COPY');
  const rtCopies = st[1].body.filter((i) => i.op === 'COPY').map((i) => i.args);
  for (const want of [/dist\/src/, /^bin /, /protos/, /^manifests /, /src\/dashboard\/web\/index\.html .*\.\/src\/dashboard\/web\//]) assert.ok(rtCopies.some((c) => want.test(c)), `runtime copies nothing matching ${want}`);
  for (const c of copies) {
    if (/--from=/.test(c.args)) continue;
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(resolve(repoRoot, src)), `COPY ${src} (line ${c.line}) is not in the build context`);
  }
  const ignore = readFileSync(resolve(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(p), `.dockerignore must exclude ${p}`);
  for (const c of copies) {
    if (/--from=/.test(c.args)) continue;
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) assert.ok(!ignore.includes(src), `COPY ${src} but .dockerignore excludes it`);
  }
});

test('the Dockerfile parser rejects garbage (so the checks above mean something)', () => {
  assert.throws(() => parseDockerfile('FROM node:20-slim\n!!!\n'), /cannot parse/);
  assert.deepEqual(parseDockerfile('# c\nRUN a \\\n  b\n').map((i) => [i.op, i.args]), [['RUN', 'a    b']]);
});
