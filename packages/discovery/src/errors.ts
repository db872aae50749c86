// Errors baton-env reports. Each carries the exit status the CLI uses: 2 for bad flags, 1 for the rest.

export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
  readonly exitCode: number = 1;
}

/** A bad flag or value; the message names the flag. */
export class UsageError extends DiscoveryError {
  override name = 'UsageError';
  override readonly exitCode = 2;
}

/** Marathon answered 404 for the app. */
export class AppNotFoundError extends DiscoveryError {
  override name = 'AppNotFoundError';
  constructor(readonly appId: string) {
    super(`app ${appId} does not exist`);
  }
}

/** Every Marathon URL failed; `attempts` says why each one did. */
export class MarathonUnreachableError extends DiscoveryError {
  override name = 'MarathonUnreachableError';
  constructor(readonly attempts: { url: string; reason: string }[]) {
    super(`Marathon is unreachable: ${attempts.map((a) => `${a.url} (${a.reason})`).join(', ')}`);
  }
}

/** Marathon rejected the credentials (401/403) or answered something unusable. */
export class MarathonRequestError extends DiscoveryError {
  override name = 'MarathonRequestError';
}

export class ZooKeeperError extends DiscoveryError {
  override name = 'ZooKeeperError';
}

export class SrvLookupError extends DiscoveryError {
  override name = 'SrvLookupError';
}

/** `--wait` ran out (or no wait was asked for) before `--min` addresses were found. */
export class NotEnoughError extends DiscoveryError {
  override name = 'NotEnoughError';
  constructor(
    message: string,
    readonly found: string[],
  ) {
    super(message);
  }
}
