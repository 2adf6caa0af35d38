// One connection attempt as an SVG ladder (sequence) diagram: the client's lifeline on the left,
// the server's on the right, one arrow per packet going down the page in time order. RSTs and
// unanswered neighbour discovery are drawn differently and carry a symbol as well as a colour;
// each arrow's <title> (the hover text) holds the packet's summary and its decision comment.

import { TCP_FIN, TCP_RST, TCP_SYN } from '../emu/wire/tcp.js';
import type { RecordedConnection, RecordedPacket } from './record.js';
import { html, type Html } from './template.js';

export const LADDER_WIDTH = 420;
const CLIENT_X = 110;
const SERVER_X = 330;
const BOX_W = 170;
const HEAD_H = 44;
const ROW_H = 26;
const SLOPE = 7;

export interface LadderLabels {
  /** "client" and its address:port. */
  readonly client: readonly [string, string];
  /** "multi/fax12 ▸ fax12" (the accepting socket, when one accepted) and the address:port. */
  readonly server: readonly [string, string];
  /** What the attempt came to, drawn under the last arrow: "accepted by fax12", "refused (RST)". */
  readonly outcome: string;
  /** The outcome is a failure (refused, timeout, unreachable): drawn with a ✗. */
  readonly failed: boolean;
  /** A failure the scenario expected (its expectation held): drawn apart from a problem, with "as expected". */
  readonly expected?: boolean;
  /** Accessible name of the whole figure. */
  readonly title: string;
}

/** The arrow's style class: rst, unanswered (neighbour discovery nobody answered), data, nd, or plain. */
export function packetClass(p: RecordedPacket, answered: boolean): string {
  if ((p.kind === 'tcp' && p.flags & TCP_RST) || p.kind === 'icmp') return 'rst';
  if (p.kind === 'udp') return 'data';
  if (p.kind === 'arp-request' || p.kind === 'ns') return answered ? 'nd' : 'unanswered';
  if (p.kind !== 'tcp') return 'nd';
  if (p.len > 0) return 'data';
  if (p.flags & (TCP_SYN | TCP_FIN)) return 'ctl';
  return 'plain';
}

function formatTime(ns: number): string {
  if (ns === 0) return '0';
  if (ns < 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(0)} ms`;
  return `${(ns / 1e9).toFixed(ns % 1e9 === 0 ? 0 : 2)} s`;
}

/** Shortens text to n code points with an ellipsis. */
export function clip(text: string, n: number): string {
  const cps = [...text];
  return cps.length > n ? `${cps.slice(0, n - 1).join('')}…` : text;
}

/** The SVG of one attempt. */
export function renderLadder(conn: RecordedConnection, labels: LadderLabels): Html {
  const pk = conn.packets;
  const answered = pk.some((p) => !p.toServer);
  const t0 = pk[0]?.timeNs ?? 0;
  // A packet with a payload gets a second line for its preview.
  const ys: number[] = [];
  let next = HEAD_H + 20;
  for (const p of pk) { ys.push(next); next += ROW_H + (p.preview ? 12 : 0); }
  const bottom = next + 20;
  const rows = pk.map((p, i) => {
    const y = ys[i]!;
    const cls = packetClass(p, answered);
    const unanswered = cls === 'unanswered';
    const [x1, x2] = p.toServer ? [CLIENT_X, unanswered ? (CLIENT_X + SERVER_X) / 2 + 30 : SERVER_X] : [SERVER_X, CLIENT_X];
    const dir = x2 > x1 ? 1 : -1;
    const head = `${x2},${y + SLOPE} ${x2 - dir * 9},${y + SLOPE - 4.5} ${x2 - dir * 9},${y + SLOPE + 4.5}`;
    const symbol = cls === 'rst' ? ' ✗' : unanswered ? ' ?' : '';
    const text = clip(`${p.label}${symbol}`, 34);
    const preview = p.preview ? clip(`"${p.preview}"`, 36) : '';
    const tip = [p.summary, p.preview ? `payload: "${p.preview}"` : '', p.comment ?? ''].filter(Boolean).join('\n');
    return html`<g class="pkt ${cls}" tabindex="0"><title>${tip}</title>
<text class="t" x="${CLIENT_X - 52}" y="${y + 4}" text-anchor="end">${formatTime(p.timeNs - t0)}</text>
<line x1="${x1}" y1="${y}" x2="${x2 - dir * 8}" y2="${y + SLOPE}"/><polygon points="${head}"/>
${unanswered ? html`<text class="x" x="${x2 + 8}" y="${y + SLOPE + 4}">✗ no reply</text>` : null}
<text class="lbl" x="${(CLIENT_X + SERVER_X) / 2}" y="${y - 3}" text-anchor="middle">${text}</text>
${preview ? html`<text class="pv" x="${(CLIENT_X + SERVER_X) / 2}" y="${y + SLOPE + 13}" text-anchor="middle">${preview}</text>` : null}</g>`;
  });
  const box = (x: number, lines: readonly [string, string], cls: string): Html => html`<g class="box ${cls}">
<rect x="${x - BOX_W / 2}" y="2" width="${BOX_W}" height="${HEAD_H - 6}" rx="5"/>
<text x="${x}" y="18" text-anchor="middle" class="b1">${clip(lines[0], 26)}</text>
<text x="${x}" y="33" text-anchor="middle" class="b2">${clip(lines[1], 28)}</text></g>`;
  const outY = bottom - 10;
  return html`<svg class="ladder" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${LADDER_WIDTH} ${bottom}" width="${LADDER_WIDTH}" height="${bottom}" role="img" aria-label="${labels.title}">
<title>${labels.title}</title>
<line class="life" x1="${CLIENT_X}" y1="${HEAD_H - 4}" x2="${CLIENT_X}" y2="${bottom - 24}"/>
<line class="life" x1="${SERVER_X}" y1="${HEAD_H - 4}" x2="${SERVER_X}" y2="${bottom - 24}"/>
${box(CLIENT_X, labels.client, 'client')}${box(SERVER_X, labels.server, answered ? 'server' : 'server silent')}
${rows}
<text class="outcome ${labels.failed ? (labels.expected ? 'expected' : 'bad') : 'good'}" x="${LADDER_WIDTH / 2}" y="${outY}" text-anchor="middle">${labels.failed ? (labels.expected ? '○ ' : '✗ ') : '✓ '}${labels.expected ? clip(`${labels.outcome} (expected)`, 60) : clip(labels.outcome, 52)}</text>
</svg>`;
}
