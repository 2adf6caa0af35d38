// What the routing tests share: a run of a scenario text under a policy with every frame kept,
// each with the link it was written on.

import { runPolicy } from '../../src/emu/engine.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { parseScenario } from '../../src/scenario/load.js';

export interface Frame { readonly link: string; readonly bytes: Uint8Array }

/** The run of `text` under `policy`, and every frame with the link it was written on. */
export function runWithFrames(text: string, policy: string, file = 'routers.yaml'): { run: PolicyRun; frames: Frame[] } {
  const s = parseScenario(text, file);
  const names: string[] = [];
  const frames: Frame[] = [];
  const run = runPolicy(s, getPolicy(policy), {
    sink: {
      addInterface: (d: { name: string }) => names.push(d.name) - 1, addName: () => {},
      packet: (i: number, _t: number, frame: Uint8Array, len: number) => { frames.push({ link: names[i]!, bytes: frame.slice(0, len) }); },
    } as never,
  });
  return { run, frames };
}
