// Names of the built-in policies, in the order the matrix shows them.
export const BUILTIN_POLICIES = ['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'linux', 'bsd44', 'freebsd', 'macos', 'windows', 'illumos'] as const;
export type BuiltinPolicy = (typeof BUILTIN_POLICIES)[number];

export function isBuiltinPolicy(name: string): name is BuiltinPolicy {
  return (BUILTIN_POLICIES as readonly string[]).includes(name);
}
