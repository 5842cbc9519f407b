// Who a ServiceAccount token proves, asked of the API server with a TokenReview. The service depends on
// the TokenReviewer interface so the validator can be tested and benchmarked apart from the network.
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { KubeClient } from '../kube/index.js';

export type TokenReviewResult =
  | { authenticated: true; username: string; audiences?: string[] }
  | { authenticated: false; error: string };

export interface TokenReviewer {
  /** Throws only when the API server cannot answer (→ UNAVAILABLE); a refused token is a result. */
  review(token: string, audiences: string[]): Promise<TokenReviewResult>;
}

const statusSchema = z.object({
  authenticated: z.boolean().nullish(),
  user: z.object({ username: z.string().nullish() }).nullish(),
  audiences: z.array(z.string()).nullish(),
  error: z.string().nullish(),
});

/** The real reviewer: POST /apis/authentication.k8s.io/v1/tokenreviews with client-node. */
export class KubeTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
  }

  async review(token: string, audiences: string[]): Promise<TokenReviewResult> {
    const res = await this.api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
    return fromStatus(res.status);
  }
}

/**
 * The same TokenReview through src/kube's KubeClient, which keeps HTTPS connections alive: client-node's
 * generated API opens a new TLS connection per call, which costs several times more per Certify.
 */
export class KeepAliveTokenReviewer implements TokenReviewer {
  private constructor(private readonly client: KubeClient) {}

  static async create(kc: KubeConfig): Promise<KeepAliveTokenReviewer> {
    return new KeepAliveTokenReviewer(await KubeClient.create(kc, { timeoutMs: 10_000 }));
  }

  async review(token: string, audiences: string[]): Promise<TokenReviewResult> {
    const res = await this.client.create<{ status?: unknown }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences },
    });
    return fromStatus(res.status);
  }

  close(): void {
    this.client.close();
  }
}

function fromStatus(status: unknown): TokenReviewResult {
  const parsed = statusSchema.safeParse(status ?? {});
  if (!parsed.success) throw new Error(`TokenReview answer is malformed: ${parsed.error.message}`);
  const s = parsed.data;
  if (!s.authenticated || !s.user?.username) return { authenticated: false, error: s.error || 'the token was not authenticated' };
  return { authenticated: true, username: s.user.username, ...(s.audiences ? { audiences: s.audiences } : {}) };
}

/** system:serviceaccount:<ns>:<name> → {namespace, name}; undefined for any other user. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}
