// The scenario's hosts as a small SVG: one box per host with its interfaces (primary address
// and aliases), its processes and the sockets they open; one bus line per link joining the
// interfaces on it.

import type { Scenario } from '../scenario/types.js';
import { clip } from './ladder.js';
import { html, type Html } from './template.js';

const BOX_W = 190;
const GAP = 18;
const LINE_H = 16;
const PAD = 10;

interface Line { readonly text: string; readonly cls: string; readonly iface?: string }

/** Sockets each process opens in the scenario, keyed "HOST/PROC". */
function socketsByProcess(scenario: Scenario): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of scenario.steps) {
    if (s.kind !== 'socket') continue;
    const k = `${s.host}/${s.process}`;
    const list = out.get(k) ?? [];
    if (!list.includes(s.socket)) list.push(s.socket);
    out.set(k, list);
  }
  return out;
}

export function renderTopology(scenario: Scenario): Html {
  const sockets = socketsByProcess(scenario);
  const hosts = scenario.hosts.map((h) => {
    const lines: Line[] = [];
    for (const i of h.interfaces) {
      lines.push({ text: `${i.name}${i.mac && i.mac !== 'arp' ? ` ${i.mac}` : ''} · link ${i.link}`, cls: 'if', iface: i.link });
      const primary = new Set<number>();
      i.addresses.forEach((c, n) => { if (i.addresses.findIndex((d) => d.addr.family === c.addr.family) === n) primary.add(n); });
      i.addresses.forEach((c, n) => lines.push({ text: `${c.text}${primary.has(n) ? '' : '  alias'}`, cls: primary.has(n) ? 'addr' : 'addr alias' }));
    }
    for (const p of h.processes) {
      const socks = sockets.get(`${h.name}/${p.name}`) ?? [];
      lines.push({ text: `${p.name} (uid ${p.uid})${socks.length ? `: ${socks.join(', ')}` : ''}`, cls: 'proc' });
    }
    return { host: h, lines };
  });
  const links = scenario.links.length > 0 ? scenario.links.map((l) => l.name) : ['lan'];
  const tallest = Math.max(...hosts.map((h) => h.lines.length));
  const heightOf = (lines: number): number => 28 + lines * LINE_H + PAD;
  const boxH = heightOf(tallest);
  const width = hosts.length * BOX_W + (hosts.length - 1) * GAP + 2 * PAD;
  const busTop = PAD + boxH + 22;
  const height = busTop + links.length * 26;
  const busY = (l: string): number => busTop + links.indexOf(l) * 26;
  const boxes = hosts.map(({ host, lines }, n) => {
    const x = PAD + n * (BOX_W + GAP);
    const h = heightOf(lines.length);
    const drops = host.interfaces.map((i, k) => {
      const dx = x + 30 + k * 40;
      const y = busY(i.link);
      return html`<line class="drop" x1="${dx}" y1="${PAD + h}" x2="${dx}" y2="${y}"/><circle class="tap" cx="${dx}" cy="${y}" r="3.5"/>`;
    });
    return html`<g class="host"><title>${host.name}</title>
<rect x="${x}" y="${PAD}" width="${BOX_W}" height="${h}" rx="6"/>
<text class="hn" x="${x + 10}" y="${PAD + 19}">${host.name}</text>
${lines.map((l, k) => html`<text class="${l.cls}" x="${x + (l.cls === 'if' || l.cls === 'proc' ? 10 : 22)}" y="${PAD + 40 + k * LINE_H}">${l.cls === 'proc' ? '⚙ ' : ''}${clip(l.text, 27)}</text>`)}
${drops}</g>`;
  });
  const buses = links.map((l) => html`<line class="bus" x1="${PAD}" y1="${busY(l)}" x2="${width - PAD}" y2="${busY(l)}"/>
<text class="busname" x="${width - PAD}" y="${busY(l) - 5}" text-anchor="end">link ${l}</text>`);
  return html`<svg class="topology" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${`Hosts: ${scenario.hosts.map((h) => h.name).join(', ')}`}">
<title>Hosts, interfaces, addresses and processes</title>
${buses}${boxes}
</svg>`;
}
