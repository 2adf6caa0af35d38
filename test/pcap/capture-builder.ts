// Builds classic pcap and pcapng files byte by byte for reader tests: either byte order, any
// timestamp resolution, several sections and interfaces, EPB/SPB/PB, and deliberate damage.

export interface Rec { sec: number; frac: number; data: Uint8Array; origLen?: number; caplen?: number }

class Bytes {
  private parts: number[] = [];
  constructor(private readonly little: boolean) {}
  u8(v: number): this { this.parts.push(v & 0xff); return this; }
  u16(v: number): this {
    const b = [(v >>> 8) & 0xff, v & 0xff];
    this.parts.push(...(this.little ? b.reverse() : b));
    return this;
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    this.parts.push(...(this.little ? b.reverse() : b));
    return this;
  }
  raw(d: Uint8Array | readonly number[]): this { for (const x of d) this.parts.push(x); return this; }
  pad(): this { while (this.parts.length % 4) this.parts.push(0); return this; }
  get length(): number { return this.parts.length; }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

/** Classic pcap: magic in the file's byte order, version 2.4. */
export function buildPcap(opts: { little: boolean; ns: boolean; linkType: number; snaplen?: number }, recs: readonly Rec[]): Uint8Array {
  const b = new Bytes(opts.little);
  b.u32(opts.ns ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(opts.snaplen ?? 262144).u32(opts.linkType);
  for (const r of recs) {
    b.u32(r.sec).u32(r.frac).u32(r.caplen ?? r.data.length).u32(r.origLen ?? r.data.length).raw(r.data);
  }
  return b.bytes();
}

export type NgBlock =
  | { kind: 'shb'; little: boolean }
  | { kind: 'idb'; linkType: number; snaplen?: number; tsresol?: number; tsoffset?: number }
  | { kind: 'epb'; iface: number; hi: number; lo: number; data: Uint8Array; origLen?: number; comment?: string }
  | { kind: 'pb'; iface: number; hi: number; lo: number; data: Uint8Array }
  | { kind: 'spb'; data: Uint8Array; origLen?: number }
  | { kind: 'nrb' }
  | { kind: 'raw'; bytes: Uint8Array };

function block(little: boolean, type: number, body: (b: Bytes) => void): Uint8Array {
  const inner = new Bytes(little);
  body(inner);
  inner.pad();
  const len = 12 + inner.length;
  return new Bytes(little).u32(type).u32(len).raw(inner.bytes()).u32(len).bytes();
}

/** Concatenates blocks; each section's byte order applies to the blocks after its SHB. */
export function buildPcapng(blocks: readonly NgBlock[]): Uint8Array {
  let little = true;
  const out: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const bl of blocks) {
    switch (bl.kind) {
      case 'shb':
        little = bl.little;
        out.push(block(little, 0x0a0d0d0a, (b) => { b.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff); }));
        break;
      case 'idb':
        out.push(block(little, 1, (b) => {
          b.u16(bl.linkType).u16(0).u32(bl.snaplen ?? 262144);
          if (bl.tsresol !== undefined) b.u16(9).u16(1).u8(bl.tsresol).pad();
          if (bl.tsoffset !== undefined) {
            const hi = Math.floor(bl.tsoffset / 4294967296);
            const lo = bl.tsoffset >>> 0;
            b.u16(14).u16(8);
            if (little) b.u32(lo).u32(hi); else b.u32(hi).u32(lo);
          }
          if (bl.tsresol !== undefined || bl.tsoffset !== undefined) b.u32(0);
        }));
        break;
      case 'epb':
        out.push(block(little, 6, (b) => {
          b.u32(bl.iface).u32(bl.hi).u32(bl.lo).u32(bl.data.length).u32(bl.origLen ?? bl.data.length).raw(bl.data).pad();
          if (bl.comment) { const c = enc.encode(bl.comment); b.u16(1).u16(c.length).raw(c).pad().u32(0); }
        }));
        break;
      case 'pb':
        out.push(block(little, 2, (b) => { b.u16(bl.iface).u16(0).u32(bl.hi).u32(bl.lo).u32(bl.data.length).u32(bl.data.length).raw(bl.data).pad(); }));
        break;
      case 'spb':
        out.push(block(little, 3, (b) => { b.u32(bl.origLen ?? bl.data.length).raw(bl.data).pad(); }));
        break;
      case 'nrb':
        out.push(block(little, 4, (b) => { b.u16(1).u16(8).raw([10, 0, 0, 1]).raw(enc.encode('srv')).u8(0).u32(0); }));
        break;
      case 'raw':
        out.push(bl.bytes);
        break;
    }
  }
  const total = out.reduce((n, a) => n + a.length, 0);
  const res = new Uint8Array(total);
  let p = 0;
  for (const a of out) { res.set(a, p); p += a.length; }
  return res;
}

/** n distinct little frames (varying sizes, odd lengths included). */
export function frames(n: number, seed = 1): Uint8Array[] {
  const out: Uint8Array[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    const len = 1 + ((i * 37 + seed) % 97);
    const f = new Uint8Array(len);
    for (let j = 0; j < len; j++) { x = (x * 1103515245 + 12345) >>> 0; f[j] = x >>> 24; }
    out.push(f);
  }
  return out;
}
