// Mesos-DNS naming (reference mesos-dns.md §2–§3): label sanitising, framework domain fragments,
// the per-task hash and agent suffix, and Marathon's app-id → task-name mapping. Pure.
import { createHash } from 'node:crypto';

/** Sanitises one label (a task name, a port name, a piece of a framework name). */
export type LabelSpec = (name: string) => string;

/** Maps a name to DNS label characters: A–Z lower-cased, a–z/0–9 kept, `-._` → `-`, the rest dropped. */
export function mapLabelChars(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += name[i];
    else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else if (c === 45 || c === 46 || c === 95) out += '-';
  }
  return out;
}

function trimLeft(s: string, cutset: string): string {
  let i = 0;
  while (i < s.length && cutset.includes(s[i])) i++;
  return s.slice(i);
}

function trimRight(s: string, cutset: string): string {
  let end = s.length;
  while (end > 0 && cutset.includes(s[end - 1])) end--;
  return s.slice(0, end);
}

/**
 * Mesos-DNS's `trimCut`: trim `left` from the start, cut to `maxlen`, trim `right` from the end, and
 * when that shortened the head, refill it from the rest (after trimming its leading `right`
 * characters) up to `maxlen`. The refilled part is not trimmed again, so a label can end in `-`.
 * (Upstream slices the rest without bounds checking; here a short rest is simply taken whole.)
 */
export function trimCut(label: string, maxlen: number, left: string, right: string): string {
  const trimmed = trimLeft(label, left);
  const size = Math.min(trimmed.length, maxlen);
  const head = trimRight(trimmed.slice(0, size), right);
  if (head.length === size) return head;
  const tail = trimLeft(trimmed.slice(size), right);
  if (tail.length === 0) return head;
  return head + tail.slice(0, size - head.length);
}

/** RFC 1123 label (Mesos-DNS's default): at most 63 characters, no leading or trailing `-`. */
export function rfc1123Label(name: string): string {
  return trimCut(mapLabelChars(name), 63, '-', '-');
}

/** RFC 952 label (`EnforceRFC952`): at most 24 characters, leading digits and hyphens stripped. */
export function rfc952Label(name: string): string {
  return trimCut(mapLabelChars(name), 24, '-0123456789', '-');
}

export function labelSpec(enforceRfc952: boolean): LabelSpec {
  return enforceRfc952 ? rfc952Label : rfc1123Label;
}

/** Splits on `sep`, sanitises each piece and drops empty ones (framework names: `My Framework.v2` → `myframework.v2`). */
export function domainFrag(name: string, sep: string, spec: LabelSpec): string {
  const out: string[] = [];
  for (const piece of name.split(sep)) {
    const label = spec(piece);
    if (label !== '') out.push(label);
  }
  return out.join(sep);
}

const ZBASE32_ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (tv42/zbase32 bit order: most significant bit first, last group zero-padded). */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32_ALPHABET[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ZBASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** `H`: the first 5 characters of zbase32(sha1(taskId)). */
export function taskHash(taskId: string): string {
  return zbase32(createHash('sha1').update(taskId).digest()).slice(0, 5);
}

/** `S`: the last `-`-separated field of the agent id, lower-cased (`…-S3` → `s3`). */
export function agentSuffix(agentId: string): string {
  const at = agentId.lastIndexOf('-');
  return agentId.slice(at + 1).toLowerCase();
}

/** The canonical task label `T-H-S`. */
export function canonicalTaskLabel(taskLabel: string, taskId: string, agentId: string): string {
  return `${taskLabel}-${taskHash(taskId)}-${agentSuffix(agentId)}`;
}

/** Marathon's `PathId.toHostname`: `/prod/db/mysql` → `mysql.db.prod` (the Mesos task and DiscoveryInfo name). */
export function toHostname(appId: string): string {
  return appId.split('/').filter((s) => s !== '').reverse().join('.');
}
