#!/usr/bin/env python3
# A client of the ipckit wire format (docs/wire.md) using only socket+struct.
# usage: wire_client.py HOST PORT   (or: wire_client.py unix PATH)
import socket, struct, sys

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("peer closed")
        b += c
    return b

def send_msg(s, data):
    s.sendall(struct.pack("<2sBBQ", b"IK", 1, 0, len(data)) + data)

def recv_msg(s):
    magic, ver, nfds, n = struct.unpack("<2sBBQ", recv_exact(s, 12))
    assert magic == b"IK" and ver == 1 and nfds == 0, "bad header"
    return recv_exact(s, n)

if sys.argv[1] == "unix":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[2])
else:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
send_msg(s, b"hello from python")
send_msg(s, b"")
assert recv_msg(s) == b"hello from ipckit"
big = recv_msg(s)
assert big == bytes(i % 251 for i in range(100000)), "big message mismatch"
send_msg(s, struct.pack("<I", len(big)))
sys.exit(0)
