"""Just enough of git's pkt-line format to read the command list at the start of a receive-pack request.

A receive-pack request body is: optional ``shallow <sha>`` lines, then ``<old> <new> <ref>`` command lines (the
first carries ``\\0capabilities``), a flush packet ``0000``, then the pack. The forge reads the commands before git
does so that branch protection is decided by the forge for exactly the refs being pushed.
"""

from __future__ import annotations

from dataclasses import dataclass


class PktLineError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    old_sha: str
    new_sha: str
    ref: str


def parse_receive_commands(buf: bytes | bytearray) -> tuple[list[Command], int] | None:
    """Parse commands from the start of ``buf``. Returns (commands, bytes consumed up to and including the flush),
    or None when ``buf`` does not yet hold the whole list. Raises PktLineError on malformed input."""
    pos = 0
    commands: list[Command] = []
    while True:
        if len(buf) < pos + 4:
            return None
        head = bytes(buf[pos : pos + 4])
        try:
            length = int(head, 16)
        except ValueError as exc:
            raise PktLineError(f"bad pkt-line length {head!r}") from exc
        if length == 0:
            return commands, pos + 4
        if length < 4:
            raise PktLineError(f"bad pkt-line length {head!r}")
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos + 4 : pos + length])
        pos += length
        line = payload.split(b"\0", 1)[0].rstrip(b"\n").decode("utf-8", "replace")
        if line.startswith("shallow "):
            continue
        if line.startswith("push-cert"):
            raise PktLineError("signed pushes are not supported")
        parts = line.split(" ", 2)
        if len(parts) != 3 or len(parts[0]) not in (40, 64) or len(parts[1]) not in (40, 64):
            raise PktLineError(f"bad command line {line[:100]!r}")
        commands.append(Command(parts[0], parts[1], parts[2]))


def pkt_line(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


FLUSH = b"0000"
