/**
 * The command line that starts `command` on a terminal already of the client's size.
 *
 * Exec APIs create the terminal at 0x0 and take the size in a separate call after the program
 * started (Docker's ConsoleSize needs Engine API 1.42; a kubelet applies the first resize
 * message when it gets to it), so a program that reads its size at once (vim, top, `stty
 * size`) would see 0x0. The shell sets the size on its own terminal first, then becomes the
 * program (`exec`: same process, so signals and exit status are the program's). Without
 * `stty` in the image the program starts as before and the size follows a moment later.
 */
export function startingAtSize(shell: string, size: { readonly cols: number; readonly rows: number }, command: readonly string[]): string[] {
  const rows = String(Math.trunc(size.rows));
  const cols = String(Math.trunc(size.cols));
  return [shell, '-c', 'stty rows "$1" cols "$2" 2>/dev/null; shift 2; exec "$@"', 'portcullis-terminal', rows, cols, ...command];
}
