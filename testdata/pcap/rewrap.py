"""Re-encapsulates an Ethernet pcap as raw IP (LINKTYPE_RAW 101),
LINKTYPE_IPV4 (228, IPv4 packets only), BSD loopback (LINKTYPE_NULL 0,
host-order family) and OpenBSD loopback (LINKTYPE_LOOP 108, network-order
family). Usage: rewrap.py IN.pcap OUTDIR"""
import os
import struct
import sys

src, outdir = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    data = f.read()
magic = struct.unpack("<I", data[:4])[0]
assert magic == 0xA1B2C3D4, "want a little-endian microsecond pcap"
hdr = bytearray(data[:24])
recs = []
off = 24
while off + 16 <= len(data):
    ts, us, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    recs.append((ts, us, orig, data[off + 16:off + 16 + incl]))
    off += 16 + incl


def write(name, link, conv):
    h = bytearray(hdr)
    h[20:24] = struct.pack("<I", link)
    out = bytearray(h)
    for ts, us, orig, pkt in recs:
        p = conv(pkt)
        if p is None:
            continue
        out += struct.pack("<IIII", ts, us, len(p), orig - (len(pkt) - len(p)))
        out += p
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(out)
    print("wrote", name, len(out), "bytes")


def family(pkt):
    return {0x0800: 2, 0x86DD: 24}.get(struct.unpack(">H", pkt[12:14])[0])


write("raw_ip.pcap", 101, lambda p: p[14:])
write("ipv4_only.pcap", 228, lambda p: p[14:] if p[12:14] == b"\x08\x00" else None)
write("null_bsd.pcap", 0, lambda p: struct.pack("<I", family(p)) + p[14:] if family(p) else None)
write("loop_openbsd.pcap", 108, lambda p: struct.pack(">I", family(p)) + p[14:] if family(p) else None)
