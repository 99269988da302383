/**
 * Environment variables that change what the dynamic loader loads or what a shell runs before
 * the user's first command: set by a policy, they run code in every matching session that no
 * image or user chose. Refused unless baseline.yaml allows one by name (guardrails.ts).
 */
const LOADER_OR_SHELL = new Set([
  // glibc's "unsecure" variables, which it ignores for setuid programs for the same reason.
  'GCONV_PATH',
  'GETCONF_DIR',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'LOCPATH',
  'MALLOC_TRACE',
  'NIS_PATH',
  'NLSPATH',
  'RESOLV_HOST_CONF',
  'RES_OPTIONS',
  'TMPDIR',
  'TZDIR',
  // Shells: startup files, code run before each prompt, parsing behaviour.
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'PS0',
  'PS1',
  'PS2',
  'PS4',
  'SHELLOPTS',
  'BASHOPTS',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'BASH_XTRACEFD',
  'HISTFILE',
  'INPUTRC',
  'ZDOTDIR',
  // Interpreters that load code named by the environment.
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONINSPECT',
  'NODE_OPTIONS',
  'NODE_PATH',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
]);

/** `LD_PRELOAD`, `LD_LIBRARY_PATH`, `LD_AUDIT`, … and bash's exported functions (`BASH_FUNC_f%%`). */
const LOADER_PREFIXES = ['LD_', 'BASH_FUNC_', 'MALLOC_', 'GLIBC_'];

export function isLoaderVariable(name: string): boolean {
  return LOADER_OR_SHELL.has(name) || LOADER_PREFIXES.some((prefix) => name.startsWith(prefix));
}
