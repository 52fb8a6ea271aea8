"""Drive `pipelab query` at a pseudo-terminal, as a person at a keyboard would.

usage: shell_pty.py HISTORY_FILE PIPELAB ARGS...
Types a statement, then the up arrow and Enter (which recalls and runs it again), then a
half-typed statement and Ctrl-C (which drops it), then Ctrl-D. Prints
{"screen": everything the terminal showed, "exit": the exit code} as JSON.
"""
import json
import os
import pty
import select
import sys
import time

history, command = sys.argv[1], sys.argv[2:]


def read_until(fd, needle, timeout=20.0):
    """What the terminal shows until `needle` appears (or the time runs out)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


pid, fd = pty.fork()
if pid == 0:
    os.environ["PIPELAB_HISTORY"] = history
    os.execvp(command[0], command)

screen = read_until(fd, b"pipelab> ")
os.write(fd, b"SELECT 40 + 2 AS answer;\r")
screen += read_until(fd, b"pipelab> ")
os.write(fd, b"\x1b[A")  # up arrow: the statement comes back
screen += read_until(fd, b"answer;")
os.write(fd, b"\r")
screen += read_until(fd, b"pipelab> ")
os.write(fd, b"SELECT 'never run'")
screen += read_until(fd, b"never run'")
os.write(fd, b"\x03")  # Ctrl-C: the line is dropped
screen += read_until(fd, b"pipelab> ")
os.write(fd, b"\x04")  # Ctrl-D: the shell ends
screen += read_until(fd, b"\x00", timeout=5.0)
_, status = os.waitpid(pid, 0)
print(json.dumps({"screen": screen.decode("utf-8", "replace"), "exit": os.waitstatus_to_exitcode(status)}))
