// What a deleted Link leaves behind that the source side can clean, run by the Link's finalizer (so also on
// the next start when the Link was deleted while the controller was down): with the token of its
// credentials Secret, the target's link ServiceAccount — deleting it ends every token of it, so the Secret
// left here holds a dead token. The Secret itself stays (the controller may not delete Secrets: least
// privilege) as do the target's RBAC objects (the link identity may not delete them); `mesh check` flags
// both, `mesh unlink` removes both.
import { LINK_TARGET_LABEL } from '../api/index.js';
import { KubeClient, deleteObject, errorMessage, kubeConfigFromString, resourcePath, type ReconcileContext } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { decodeJwt, kubeconfigToken, readCredentials } from './credentials.js';
import type { MirrorEnv } from './env.js';
import type { Link } from './types.js';

/** A bounded wait for the target: an unreachable target must not hold the Link's deletion for long. */
const TARGET_TIMEOUT_MS = 5000;

export async function revokeLinkCredentials(env: MirrorEnv, link: Link, ctx: ReconcileContext, log: () => Logger): Promise<void> {
  const name = link.metadata?.name ?? '';
  const secretName = (link.spec as { clusterCredentialsSecret?: unknown } | undefined)?.clusterCredentialsSecret;
  if (typeof secretName !== 'string') return;
  const secret = env.caches.secret(secretName);
  // Only credentials `mesh link` made (labelled with their target), and only once no other Link uses them.
  if (!secret?.metadata?.labels?.[LINK_TARGET_LABEL]) return;
  if (env.caches.linksUsingSecret(secretName).some((l) => l.metadata?.name !== name && !l.metadata?.deletionTimestamp)) return;
  const creds = readCredentials(secret, env.namespace, secretName);
  if (creds.ok) await deleteLinkServiceAccount(creds.kubeconfig, ctx, log);
}

/** The target's ServiceAccount the token belongs to, deleted with that token (best effort, logged). */
async function deleteLinkServiceAccount(kubeconfig: string, ctx: ReconcileContext, log: () => Logger): Promise<void> {
  const token = kubeconfigToken(kubeconfig);
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec((token && decodeJwt(token)?.sub) || '');
  if (!m) return; // not a ServiceAccount token: nothing of ours to remove there
  const sa = `${m[1]}/${m[2]}`;
  let client: KubeClient | undefined;
  try {
    client = await KubeClient.create(kubeConfigFromString(kubeconfig), { timeoutMs: TARGET_TIMEOUT_MS });
    const gone = !(await deleteObject(client, resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: m[1], name: m[2] }), { signal: ctx.signal }));
    log().info(gone ? 'link deleted: the target link ServiceAccount was already gone' : 'link deleted: removed the target link ServiceAccount (its tokens end)', { serviceAccount: sa });
  } catch (err) {
    log().warn('link deleted: could not remove the target link ServiceAccount; it is left there (mesh check on the target flags it; mesh unlink removes it)', {
      serviceAccount: sa,
      error: errorMessage(err),
    });
  } finally {
    client?.close();
  }
}
