#!/usr/bin/env python3
"""A small SSH client on paramiko (what Ansible uses), driven by the tests as a real process.

  paramiko-client.py exec PORT USER COMMAND [--pty] [--env NAME=VALUE]...
      Runs COMMAND; stdin goes to the remote program, its stdout and stderr come back on ours,
      and we exit with its exit status (255 when none came). With --pty on a terminal: the
      terminal's size is requested, the terminal is raw (Ctrl-C goes to the remote pty) and
      every SIGWINCH is sent as a window change, as an interactive client does.
  paramiko-client.py sftp PORT USER put|get LOCAL REMOTE
      One SFTP transfer; a failure prints its reason on stderr and exits 1.

The password comes from PORTCULLIS_TEST_PASSWORD, never from the command line.
"""
import os
import select
import signal
import socket
import sys
import threading

import paramiko


def connect(port: int, user: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    # As the tests' OpenSSH (StrictHostKeyChecking=no): the gateway's host key is fresh per run.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        '127.0.0.1',
        port=port,
        username=user,
        password=os.environ['PORTCULLIS_TEST_PASSWORD'],
        allow_agent=False,
        look_for_keys=False,
        timeout=20,
        banner_timeout=20,
        auth_timeout=20,
    )
    return client


def terminal_size() -> tuple[int, int]:
    size = os.get_terminal_size(sys.stdin.fileno())
    return size.columns, size.lines


def run_exec(port: int, user: str, command: str, pty: bool, env: dict[str, str]) -> int:
    client = connect(port, user)
    channel = client.get_transport().open_session()
    if env:
        channel.update_environment(env)
    interactive = pty and sys.stdin.isatty()
    saved = None
    if pty:
        cols, rows = terminal_size() if interactive else (80, 24)
        channel.get_pty(term=os.environ.get('TERM', 'xterm'), width=cols, height=rows)
    if interactive:
        import termios
        import tty

        saved = termios.tcgetattr(sys.stdin.fileno())
        tty.setraw(sys.stdin.fileno())
        signal.signal(signal.SIGWINCH, lambda *_: channel.resize_pty(*terminal_size()))
    channel.exec_command(command)
    # stdin is pumped on its own thread: a blocking send must never stop us reading what comes back.
    threading.Thread(target=pump_stdin, args=(channel,), daemon=True).start()
    try:
        while True:
            try:
                select.select([channel], [], [], 1.0)
            except InterruptedError:
                continue
            while channel.recv_stderr_ready():
                os.write(2, channel.recv_stderr(32768))
            if channel.recv_ready():
                write_all(1, channel.recv(32768))
                continue
            # The session is over once the server closed or sent EOF and nothing is left to read.
            if (channel.eof_received or channel.closed) and not channel.recv_stderr_ready():
                break
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    status = channel.recv_exit_status()
    client.close()
    return 255 if status == -1 else status


def pump_stdin(channel: paramiko.Channel) -> None:
    try:
        while True:
            data = os.read(sys.stdin.fileno(), 32768)
            if not data:
                channel.shutdown_write()
                return
            channel.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        return


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run_sftp(port: int, user: str, direction: str, local: str, remote: str) -> int:
    client = connect(port, user)
    sftp = client.open_sftp()
    try:
        if direction == 'put':
            sftp.put(local, remote)
        elif direction == 'get':
            sftp.get(remote, local)
        else:
            print(f'unknown direction {direction}', file=sys.stderr)
            return 2
    except (IOError, OSError) as error:
        print(f'sftp {direction} {remote}: {error}', file=sys.stderr)
        return 1
    finally:
        sftp.close()
        client.close()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == 'exec':
        port, user, command = int(argv[1]), argv[2], argv[3]
        rest = argv[4:]
        pty = '--pty' in rest
        env = {}
        for index, word in enumerate(rest):
            if word == '--env' and index + 1 < len(rest):
                name, _, value = rest[index + 1].partition('=')
                env[name] = value
        return run_exec(port, user, command, pty, env)
    if len(argv) == 6 and argv[0] == 'sftp':
        return run_sftp(int(argv[1]), argv[2], argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (paramiko.SSHException, socket.error, EOFError) as error:
        print(f'paramiko-client: {type(error).__name__}: {error}', file=sys.stderr)
        sys.exit(255)
