// The addresses the DNS listener answers on, from the host's network interfaces (the I/O side of the
// nameserver record; record-store.ts publishes what it is given).

import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/**
 * The IPs `listener` stands for: itself, or for `0.0.0.0`/`::` every non-loopback, non-link-local
 * interface IP of `interfaces` (default: this host's; 127.0.0.1 if none).
 */
export function listenerAddresses(listener: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  if (listener !== '0.0.0.0' && listener !== '::' && listener !== '') return [listener];
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv6' && info.address.startsWith('fe80')) continue;
      out.push(info.address);
    }
  }
  return out.length > 0 ? out : ['127.0.0.1'];
}
