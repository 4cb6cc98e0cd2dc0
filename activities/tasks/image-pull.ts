// Makes sure a task's image is present. A failed pull does not always reject: dockerode (and podman's
// Docker API) report it inside the progress stream (`error` / `errorDetail`), so every event is checked.
import type Docker from 'dockerode';

export type PullPolicy = 'if-missing' | 'always' | 'never';

/** Docker's `authconfig` for a pull (never logged, never in a result). */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress?: string;
}

export class ImagePullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImagePullError';
  }
}

interface ProgressEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export async function ensureImage(
  docker: Docker,
  image: string,
  policy: PullPolicy,
  progress: (msg: string) => void,
  registryAuth?: () => Promise<RegistryAuth>,
): Promise<void> {
  if (policy !== 'always') {
    const present = await docker
      .getImage(image)
      .inspect()
      .then(
        () => true,
        (err: { statusCode?: number }) => {
          if (err.statusCode === 404) return false;
          throw err;
        },
      );
    if (present) return;
    if (policy === 'never')
      throw new ImagePullError(`image ${image} is not present and the pull policy is never`);
  }
  progress(`pulling ${image}`);
  let stream: NodeJS.ReadableStream;
  try {
    const authconfig = registryAuth ? await registryAuth() : undefined;
    stream = await docker.pull(image, authconfig ? { authconfig } : {});
  } catch (err) {
    throw new ImagePullError(
      `image pull failed: ${image}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const events = await new Promise<ProgressEvent[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: ProgressEvent[]) =>
      err ? reject(err) : resolve(out),
    );
  }).catch((err: unknown) => {
    throw new ImagePullError(
      `image pull failed: ${image}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  const failed = events.find((e) => e.error || e.errorDetail);
  if (failed)
    throw new ImagePullError(
      `image pull failed: ${image}: ${(failed.errorDetail?.message ?? failed.error ?? 'unknown error').trim()}`,
    );
}
