// The WebAssembly side of a replay's output (assembly/packets.ts, compiled by `npm run build` to
// dist/wasm/packets.wasm): its functions and the memory they work in. The capture reader's file
// buffers and the capture writers' buffers are allocated in that memory (bytes()), so the
// functions read a packet where it was read into and build its block where it is flushed from.
// A buffer that is not there (a capture given as bytes, a buffer grown past the arena, the module
// missing, BINDLAB_WASM=0) is simply worked on by the JavaScript that does the same.
//
// The memory is one fixed arena, never grown: growing a WebAssembly memory detaches its
// ArrayBuffer, and every view of it (the buffers handed out) would go empty. Its pages cost
// nothing until written (the kernel maps them on first touch). Buffers are taken in 4 KiB units,
// first fit, and come back by release() or, for one nobody released, when it is garbage collected.

import { existsSync, readFileSync } from 'node:fs';

/** The module's functions (assembly/packets.ts says what each does). */
export interface PacketKernels {
  clientSegment(from: number, shift: number, ip: number, tcp: number, segEnd: number, capEnd: number, v4: number,
    mapped: number, realIsn: number, emuIsn: number, emuNext: number, emuTsval: number): void;
  packetBlock(p: number, iface: number, timeNs: number, nsPerUnit: number, baseHi: number, baseLo: number, cap: number, len: number,
    c: number, cLen: number, r: number, rLen: number): number;
  serverFrame(at: number, head: number, headLen: number, v4: number, ipBase: number, ipId: number, flow: number, tcpBase: number,
    seq: number, ack: number, flags: number, window: number, opts: number, optLen: number, optsSum: number, tsAt: number, tsval: number, tsecr: number,
    payload: number, payloadLen: number, payloadSum: number): void;
}

const UNIT = 4096;
/** The arena: 64 MiB (a replay's reader takes 5 MiB, each output 1 MiB). */
const UNITS = 16384;
/** WebAssembly pages (64 KiB) of the arena. */
const PAGES = (UNITS * UNIT) / 65536;
/** The first 256 KiB are the module's own (its static data starts at 64 KiB: --memoryBase). */
const FIRST_UNIT = 64;

/** The loaded module, or null when it is not loaded (yet, or at all). */
export let kernels: PacketKernels | null = null;
/** The memory's bytes: a buffer in it has this as its .buffer (null until loaded). */
export let memoryBuffer: ArrayBuffer | null = null;

let tried = false;
/** Per unit: 1 while taken. */
const taken = new Uint8Array(UNITS);
/** Each handed-out buffer's first unit and unit count, by buffer. */
const regions = new WeakMap<Uint8Array, { first: number; units: number }>();
const collected = new FinalizationRegistry<{ first: number; units: number }>((r) => free(r));

function free(r: { first: number; units: number }): void {
  taken.fill(0, r.first, r.first + r.units);
}

/** Where the compiled module is: beside this file's directory in dist/ (dist/wasm, dist/bin), else the build's from the sources (tests). */
function modulePath(): URL | null {
  for (const rel of ['../wasm/packets.wasm', '../../dist/wasm/packets.wasm']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return url;
  }
  return null;
}

/**
 * Loads the module once; false when it cannot be (then every buffer is an ordinary one).
 * BINDLAB_WASM=0 leaves it unloaded; BINDLAB_WASM=1 makes a failure to load it an error (tests
 * of the installed command use it to know the module is there and works).
 */
export function loadKernels(): boolean {
  if (tried) return kernels !== null;
  tried = true;
  const want = process.env['BINDLAB_WASM'];
  if (want === '0') return false;
  const url = modulePath();
  try {
    if (url === null) throw new Error('dist/wasm/packets.wasm is missing (npm run build makes it)');
    const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(url)), { env: { memory } });
    kernels = instance.exports as unknown as PacketKernels;
    memoryBuffer = memory.buffer;
  } catch (e) {
    kernels = null;
    memoryBuffer = null;
    if (want === '1') throw new Error(`BINDLAB_WASM=1: the WebAssembly module could not be loaded: ${(e as Error).message}`);
  }
  return kernels !== null;
}

/**
 * A buffer of n bytes (contents undefined), in the module's memory when there is room there,
 * else an ordinary one. Release it when done with it (or let it be collected).
 */
export function bytes(n: number): Buffer {
  if (enabled && loadKernels() && n > 0) {
    const units = Math.ceil(n / UNIT);
    let run = 0;
    for (let u = FIRST_UNIT; u < UNITS; u++) {
      run = taken[u] === 0 ? run + 1 : 0;
      if (run === units) {
        const first = u - units + 1;
        taken.fill(1, first, u + 1);
        const buf = Buffer.from(memoryBuffer!, first * UNIT, n);
        const r = { first, units };
        regions.set(buf, r);
        collected.register(buf, r, buf);
        return buf;
      }
    }
  }
  return Buffer.allocUnsafe(n);
}

/** Gives back a buffer from bytes() that nothing will read or write again (an ordinary one: nothing to do). */
export function release(buf: Uint8Array): void {
  const r = regions.get(buf);
  if (r === undefined) return;
  regions.delete(buf);
  collected.unregister(buf);
  free(r);
}

/** For tests and comparisons: when off, bytes() hands out ordinary buffers (the JavaScript paths run); on by default. */
export function useMemory(on: boolean): void {
  enabled = on;
}
let enabled = true;

/** Whether buf is in the module's memory (then its byteOffset is its address there). */
export function inMemory(buf: Uint8Array): boolean {
  return memoryBuffer !== null && buf.buffer === memoryBuffer;
}

/** Units of the arena taken (for tests). */
export function unitsTaken(): number {
  let n = 0;
  for (let u = FIRST_UNIT; u < UNITS; u++) n += taken[u]!;
  return n;
}
