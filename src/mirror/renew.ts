// reconcile(renew key): a Link's time-bound ServiceAccount token is renewed before it expires and written
// back into the credentials Secret. The due time is read from the token itself, so a restarted controller
// renews on the same schedule; until then the key comes back by requeue-after, not by a private timer.
import { CREDENTIALS_KUBECONFIG_KEY } from '../api/index.js';
import { errorMessage, isConflict, resourcePath, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import { kubeconfigToken, readCredentials, renewalDueMs, requestToken, withToken } from './credentials.js';
import { reconcileLog, type MirrorEnv } from './env.js';

/** After a failed renewal (the target unreachable, the token refused). */
const RETRY_MS = 30_000;
/** The shortest wait before a renewal (the due time may already have passed). */
const MIN_WAIT_MS = 1_000;

export class RenewReconciler {
  constructor(private readonly env: MirrorEnv) {}

  async reconcile(linkName: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { caches, clock } = this.env;
    const link = caches.link(linkName);
    if (!link || link.metadata?.deletionTimestamp) return;
    const parsed = caches.parse(link);
    if (!parsed.ok) return;
    const secretName = parsed.spec.clusterCredentialsSecret;
    const secret = caches.secret(secretName);
    const creds = readCredentials(secret, this.env.namespace, secretName);
    if (!creds.ok) return; // a new Secret brings this key back
    const token = kubeconfigToken(creds.kubeconfig);
    const due = renewalDueMs(creds.kubeconfig, this.env.tokenRenewCapMs);
    if (!token || due === undefined) return; // not a time-bound token
    const wait = due - clock.now();
    if (wait > 0) return { requeueAfter: Math.max(MIN_WAIT_MS, wait) };
    const log = reconcileLog(ctx, { link: linkName, cluster: parsed.spec.targetClusterName, secret: secretName });
    const rc = this.env.remotes.active(linkName);
    if (!rc) return { requeueAfter: MIN_WAIT_MS }; // the link reconcile has not built the remote client yet
    try {
      const fresh = await requestToken(rc.client, token, { signal: ctx.signal });
      const data = { ...(secret?.data ?? {}), [CREDENTIALS_KUBECONFIG_KEY]: Buffer.from(withToken(creds.kubeconfig, fresh)).toString('base64') };
      const path = resourcePath({ version: 'v1', plural: 'secrets', namespace: this.env.namespace, name: secretName });
      await this.env.client.patch(path, { metadata: { resourceVersion: secret?.metadata?.resourceVersion }, data }, 'merge', { signal: ctx.signal });
    } catch (err) {
      // A stale Secret in the cache or a timed-out reconcile: the queue's backoff retries it.
      if (isConflict(err) || ctx.signal.aborted) throw err;
      log().warn('link token renewal failed, retrying in 30s', { error: errorMessage(err) });
      return { requeueAfter: RETRY_MS };
    }
    log().info('renewed the link token and stored it in the credentials Secret');
    return; // the Secret's update brings this key back with the new token's due time
  }
}
