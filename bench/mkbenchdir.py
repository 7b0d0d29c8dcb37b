"""Builds a benchmark input directory (~50 MB by default) from the
captures recorded by testdata/pcap/capture.sh: many small captures (copies
of the test captures, as NetSSM datasets are usually one capture per flow
or session) plus two large ones (the Ethernet capture's records repeated),
so that both parallelism over files and within a file are exercised.
The average packet is about 280 bytes, close to the 290 bytes of the data
set behind NetSSM's 20 MB/s figure.

usage: mkbenchdir.py OUTDIR [TOTAL_MB]"""
import glob
import os
import shutil
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
caps = sorted(glob.glob(os.path.join(here, "..", "testdata", "pcap", "*.pcap*")))
out = sys.argv[1]
total = int(float(sys.argv[2] if len(sys.argv) > 2 else 50) * 1e6)
if os.path.exists(out):
    shutil.rmtree(out)
os.makedirs(os.path.join(out, "small"))
os.makedirs(os.path.join(out, "large"))

# Two large captures: 15% of the total each.
src = open(os.path.join(here, "..", "testdata", "pcap", "lo_http_udp.pcap"), "rb").read()
hdr, body = src[:24], src[24:]
for i in range(2):
    with open(os.path.join(out, "large", "big%d.pcap" % i), "wb") as f:
        f.write(hdr)
        n = 24
        while n < total * 0.15:
            f.write(body)
            n += len(body)

# Small captures for the rest.
size = sum(os.path.getsize(os.path.join(out, "large", x)) for x in os.listdir(os.path.join(out, "large")))
i = 0
while size < total:
    c = caps[i % len(caps)]
    d = os.path.join(out, "small", "%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, "c%05d%s" % (i, os.path.splitext(c)[1]))
    shutil.copyfile(c, dst)
    size += os.path.getsize(dst)
    i += 1
print("%s: %d captures, %.1f MB" % (out, i + 2, size / 1e6))
