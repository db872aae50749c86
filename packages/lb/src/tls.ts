// Certificates for TLS termination. Each file holds a certificate (chain) and its private key in one
// PEM, as HAProxy takes them. SNI picks the certificate whose names (CN and DNS subjectAltNames, with
// `*.` wildcards) match; an unknown or missing server name gets the first (default) certificate.

import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface LoadedCertificate {
  file: string;
  /** Lower-cased names the certificate is valid for. */
  names: string[];
  pem: string;
  context: SecureContext;
  mtimeMs: number;
}

/** Reads one PEM file (certificate + key) into a secure context; throws a readable error. */
export function loadCertificate(file: string): LoadedCertificate {
  const mtimeMs = statSync(file).mtimeMs;
  const pem = readFileSync(file, 'utf8');
  if (!pem.includes('PRIVATE KEY-----')) throw new Error(`${file}: no private key in the PEM file`);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file}: no certificate in the PEM file`);
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: pem, key: pem });
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const x509 = new X509Certificate(pem);
  const names = new Set<string>();
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject);
  if (cn) names.add(cn[1].trim().toLowerCase());
  for (const part of (x509.subjectAltName ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.add(m[1].trim().toLowerCase());
  }
  return { file, names: [...names], pem, context, mtimeMs };
}

export interface CertificateProblem {
  file: string;
  message: string;
}

/** The certificates :443 serves, rebuilt when the list of files changes. */
export class CertificateStore {
  private byFile = new Map<string, LoadedCertificate>();
  private exact = new Map<string, LoadedCertificate>();
  private wildcard = new Map<string, LoadedCertificate>();
  private first: LoadedCertificate | undefined;
  private files: string[] = [];
  problems: CertificateProblem[] = [];

  /** Loads `files` (first = default); unchanged files are kept without rereading. */
  update(files: readonly string[]): { changed: boolean; problems: CertificateProblem[] } {
    const unique = [...new Set(files)];
    const problems: CertificateProblem[] = [];
    const next = new Map<string, LoadedCertificate>();
    let changed = unique.length !== this.files.length || unique.some((f, i) => f !== this.files[i]);
    for (const file of unique) {
      const known = this.byFile.get(file);
      try {
        if (known !== undefined && statSync(file).mtimeMs === known.mtimeMs) {
          next.set(file, known);
          continue;
        }
        next.set(file, loadCertificate(file));
        changed = true;
      } catch (err) {
        problems.push({ file, message: (err as Error).message });
        if (known !== undefined) next.set(file, known); // keep the last good one
      }
    }
    this.files = unique;
    this.byFile = next;
    this.problems = problems;
    if (changed) this.index();
    return { changed, problems };
  }

  private index(): void {
    this.exact = new Map();
    this.wildcard = new Map();
    this.first = undefined;
    for (const file of this.files) {
      const cert = this.byFile.get(file);
      if (cert === undefined) continue;
      this.first ??= cert;
      for (const name of cert.names) {
        if (name.startsWith('*.')) {
          if (!this.wildcard.has(name.slice(2))) this.wildcard.set(name.slice(2), cert);
        } else if (!this.exact.has(name)) this.exact.set(name, cert);
      }
    }
  }

  get defaultCertificate(): LoadedCertificate | undefined {
    return this.first;
  }

  get size(): number {
    return this.byFile.size;
  }

  /** The certificate for an SNI name: exact, then `*.parent`, then the default. */
  lookup(servername: string | undefined): LoadedCertificate | undefined {
    if (servername) {
      const name = servername.toLowerCase();
      const exact = this.exact.get(name);
      if (exact !== undefined) return exact;
      const dot = name.indexOf('.');
      if (dot !== -1) {
        const wild = this.wildcard.get(name.slice(dot + 1));
        if (wild !== undefined) return wild;
      }
    }
    return this.first;
  }

  /** For `tls.createServer({ SNICallback })`. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const cert = this.lookup(servername);
    if (cert === undefined) cb(new Error('no certificate configured'));
    else cb(null, cert.context);
  };
}
