"""UDP traffic for capture.sh: payloads around NetSSM's 12-byte cut-off
(including an empty datagram, on which NetSSM's preprocessor panics) and
DNS queries, interleaved with the HTTP transfers."""
import socket
import struct
import sys
import time

host = sys.argv[1]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(1)
for n in (0, 1, 5, 11, 12, 40, 300):
    s.sendto(bytes(range(n % 256)) * (n // 256) + bytes(range(n % 256)), (host, 19090))
    try:
        s.recvfrom(65535)
    except socket.timeout:
        pass
for i, name in enumerate(("example.com", "a.netssm.test", "x" * 40 + ".org")):
    q = struct.pack(">HHHHHH", 0x1000 + i, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    s.sendto(q, (host, 53))
    try:
        s.recvfrom(512)
    except socket.timeout:
        pass
    time.sleep(0.01)
