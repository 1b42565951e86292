#!/usr/bin/env python3
"""Delay, jitter and reordering without sch_netem (this kernel has none), for scripts/faults.

Runs inside one server's network namespace, where an iptables rule sends every outgoing packet
to NFQUEUE <queue>. Each packet is let through (NF_ACCEPT) only after delay +/- jitter
milliseconds, drawn from a seeded generator; with jitter, later packets often leave first, which
is the reordering. Talks netfilter's queue protocol over a raw netlink socket, so it needs
nothing beyond Python. The queue is configured fail-open, and the iptables rule uses
--queue-bypass: when this process is gone, packets flow again instead of being dropped.

usage: kf-delayq.py QUEUE DELAY_MS JITTER_MS SEED
"""
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def fail(msg):
    sys.stderr.write("kf-delayq: %s\n" % msg)
    sys.exit(2)


def attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))

    def send(self, msg_type, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(self.num)) + b"".join(attrs)
        hdr = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self.seq, 0)
        self.sock.send(hdr + body)

    def config(self, attrs):
        """Sends one configuration message and waits for the kernel's acknowledgement."""
        self.send(NFQNL_MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", data, 0)
        if kind == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, 16)[0]
            if err != 0:
                fail("configuring queue %d failed: %s" % (self.num, os.strerror(-err)))

    def setup(self):
        self.config([attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))])
        self.config([attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))])
        self.config([attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 20000))])
        self.config([attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)),
                     attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))])

    def packet_ids(self, data):
        """The packet ids of every queued-packet message in one datagram."""
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a = off + 20  # nlmsghdr (16) + nfgenmsg (4)
                while a + 4 <= off + length:
                    alen, akind = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if (akind & 0x7FFF) == NFQA_PACKET_HDR:
                        yield struct.unpack_from("!I", data, a + 4)[0]
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3

    def accept(self, pid):
        self.send(NFQNL_MSG_VERDICT, [attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))])


def main():
    if len(sys.argv) != 5:
        fail("usage: kf-delayq.py QUEUE DELAY_MS JITTER_MS SEED")
    try:
        num, delay, jitter, seed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    except ValueError:
        fail("QUEUE and SEED must be whole numbers, DELAY_MS and JITTER_MS numbers; got %s" % " ".join(sys.argv[1:]))
    if delay < 0 or jitter < 0:
        fail("DELAY_MS and JITTER_MS must not be negative")
    rng = random.Random(seed)
    q = Queue(num)
    q.setup()
    due = []  # (release time, tie-breaker, packet id)
    n = 0
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        ready, _, _ = select.select([q.sock], [], [], timeout)
        if ready:
            try:
                data = q.sock.recv(1 << 20)
            except OSError:
                data = b""  # ENOBUFS: packets were dropped by the kernel, which is bad network too
            now = time.monotonic()
            for pid in q.packet_ids(data):
                d = max(0.0, delay + rng.uniform(-jitter, jitter)) / 1000.0
                n += 1
                heapq.heappush(due, (now + d, n, pid))
        now = time.monotonic()
        while due and due[0][0] <= now:
            q.accept(heapq.heappop(due)[2])


if __name__ == "__main__":
    main()
