// The Marathon leader in ZooKeeper (pure).
//  - Marathon ≥1.4: Curator LeaderLatch at `<path>/leader-curator`, children `_c_<uuid>-latch-<seq>`.
//  - Marathon ≤1.3: `<path>/leader/member_<seq>`; 1.4+ also writes the tombstone `member_-00000000`
//    holding the current leader for older instances.
// Node data is the participant's `host:port` (UTF-8, no scheme). The lowest sequence leads.
import { type NodeError, type ZkNode } from './parse-result.js';

export type MarathonLeaderSource = 'leader-curator' | 'leader';

export interface MarathonParticipant {
  node: string;
  sequence: number;
  /** `host:port` */
  address: string;
}

export interface MarathonLeader {
  /** `host:port` of the leader, undefined when none is registered. */
  leader?: string;
  /** Which layout it came from. */
  source?: MarathonLeaderSource;
  /** Every participant of the layout in use, leader first. */
  participants: MarathonParticipant[];
  errors: NodeError[];
}

const CURATOR_NODE = /^(?:_c_[0-9a-fA-F-]+-)?latch-(\d+)$/;
const LEGACY_NODE = /^member_(-?\d+)$/;

/** Sequence of a `leader-curator` child (`_c_<uuid>-latch-<seq>`), or undefined for other names. */
export function curatorLatchSequence(name: string): number | undefined {
  const match = CURATOR_NODE.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Sequence of a legacy `leader` child (`member_<seq>`); the tombstone `member_-00000000` sorts first. */
export function legacyMemberSequence(name: string): number | undefined {
  const match = LEGACY_NODE.exec(name);
  if (!match) return undefined;
  return match[1].startsWith('-') ? -1 : Number(match[1]);
}

/** Checks participant data: `host:port` (a bracketed IPv6 host is accepted). */
export function parseMarathonParticipant(node: string, data: Buffer | string): { ok: true; address: string } | { ok: false; error: string } {
  const text = (typeof data === 'string' ? data : data.toString('utf8')).trim();
  const match = /^(\[[0-9a-fA-F:.%]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    return { ok: false, error: `${node}: expected "host:port", got ${JSON.stringify(text.slice(0, 100))}` };
  }
  return { ok: true, address: text };
}

function participantsOf(
  nodes: readonly ZkNode[],
  sequenceOf: (name: string) => number | undefined,
  errors: NodeError[],
): { participants: MarathonParticipant[]; leaderUnreadable: boolean } {
  const participants: MarathonParticipant[] = [];
  let lowest = Infinity;
  for (const { name, data } of nodes) {
    const sequence = sequenceOf(name);
    if (sequence === undefined) continue;
    lowest = Math.min(lowest, sequence);
    const parsed = parseMarathonParticipant(name, data);
    if (parsed.ok) participants.push({ node: name, sequence, address: parsed.address });
    else errors.push({ node: name, error: parsed.error });
  }
  participants.sort((a, b) => a.sequence - b.sequence || a.node.localeCompare(b.node));
  return { participants, leaderUnreadable: participants.length > 0 && participants[0].sequence !== lowest };
}

/**
 * The leader from the children of `<path>/leader-curator` and of `<path>/leader` (either may be
 * undefined when the znode does not exist). The Curator layout wins when it has participants.
 */
export function marathonLeaderFromNodes(
  curatorNodes: readonly ZkNode[] | undefined,
  legacyNodes: readonly ZkNode[] | undefined,
): MarathonLeader {
  const errors: NodeError[] = [];
  const curator = participantsOf(curatorNodes ?? [], curatorLatchSequence, errors);
  if (curator.participants.length > 0 || errors.length > 0) {
    return {
      leader: curator.leaderUnreadable ? undefined : curator.participants[0]?.address,
      source: 'leader-curator',
      participants: curator.participants,
      errors,
    };
  }
  const legacy = participantsOf(legacyNodes ?? [], legacyMemberSequence, errors);
  if (legacy.participants.length === 0) return { participants: [], errors };
  return {
    leader: legacy.leaderUnreadable ? undefined : legacy.participants[0].address,
    source: 'leader',
    participants: legacy.participants,
    errors,
  };
}
