"""UDP responders for capture.sh: an echo server on port 19090 (IPv4 and
IPv6) and a minimal DNS responder on port 53 that answers every query
with one A record."""
import socket
import struct
import threading


def echo(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, 19090))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data[:64], peer)


def dns(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        hdr = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00"
        ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01"
        s.sendto(hdr + q[12:] + ans, peer)


threads = [
    threading.Thread(target=echo, args=(socket.AF_INET, "127.0.0.1")),
    threading.Thread(target=echo, args=(socket.AF_INET6, "::1")),
    threading.Thread(target=dns, args=(socket.AF_INET, "127.0.0.1")),
    threading.Thread(target=dns, args=(socket.AF_INET6, "::1")),
]
for t in threads:
    t.daemon = True
    t.start()
for t in threads:
    t.join()
