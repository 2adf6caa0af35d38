// The policy catalogue.
import { linux } from './linux.js';
import { linux1360 } from './linux-1.3.60.js';
import { pajari1999 } from './pajari-1999.js';
import { linux22 } from './linux-2.2.js';
import { bsd44 } from './bsd44.js';
import { freebsd } from './freebsd.js';
import { macos } from './macos.js';
import { windows } from './windows.js';
import { illumos } from './illumos.js';
import { BUILTIN_POLICIES } from './names.js';
import type { Policy } from './types.js';

const CATALOGUE: ReadonlyMap<string, Policy> = new Map([linux1360, pajari1999, linux22, linux, bsd44, freebsd, macos, windows, illumos].map((p) => [p.name, p]));

export function getPolicy(name: string): Policy {
  const p = CATALOGUE.get(name);
  if (!p) throw new Error(`unknown policy "${name}"; known: ${BUILTIN_POLICIES.join(', ')}`);
  return p;
}

export function allPolicies(): readonly Policy[] {
  return BUILTIN_POLICIES.map(getPolicy);
}

export type { Policy } from './types.js';
