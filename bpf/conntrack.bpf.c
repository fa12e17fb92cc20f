// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* NAT mappings from the kernel's own conntrack entries, without Netlink.
 *
 * One netfilter program (BPF_PROG_TYPE_NETFILTER), linked at POST_ROUTING and
 * LOCAL_IN for IPv4 and IPv6 with a priority just below conntrack confirm
 * (INT_MAX): every source and destination NAT decision is made by then, and an
 * entry created by this packet is still unconfirmed. Each conntrack entry is
 * confirmed at exactly one of these two hooks (generated and forwarded traffic
 * at POST_ROUTING, delivered traffic at LOCAL_IN), so each is seen new once.
 *
 * Per packet on an established flow: three kernel reads and no map access.
 * The `tcp_seen` map is touched only for TCP packets whose entry is in
 * SYN_SENT (a new or re-opened connection), TIME_WAIT or CLOSE (its end). */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define NF_ACCEPT 1
#define NT_IPS_CONFIRMED (1u << 3)
#define NT_NFCT_INFOMASK 7ul
#define NT_IP_CT_IS_REPLY 3
#define NT_IP_CT_UNTRACKED 7
#define NT_TCP_SYN 0x02
#define NT_TCP_RST 0x04
#define NT_TCP_ACK 0x10
#define NT_CT_WAKEUP_BYTES (128 << 10) /* 1/64 of the ring: ~900 events */

/* 8 MiB: about 58,000 events, 2 s of a saturated NAT churn (two per connection). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ct_events SEC(".maps");

/* What we know about a TCP entry we saw new: which SYN opened its current
 * interval (a retransmitted SYN is not a re-open) and whether its end was seen. */
struct nt_ct_tcp_seen {
	__u64 start_ts;
	__u32 syn_seq;
	__u32 ended;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64); /* the nf_conn address: never leaves the kernel */
	__type(value, struct nt_ct_tcp_seen);
} tcp_seen SEC(".maps");

static __always_inline void nt_ct_fill_tuple(struct nt_ct_tuple *out, struct nf_conntrack_tuple *t)
{
	struct nf_conntrack_tuple k = {};

	bpf_probe_read_kernel(&k, sizeof(k), t);
	__builtin_memcpy(out->src, &k.src.u3, 16);
	__builtin_memcpy(out->dst, &k.dst.u3, 16);
	out->l3 = k.src.l3num;
	out->l4 = k.dst.protonum;
	out->_pad = 0;
	if (k.src.l3num == 2) { /* IPv4: zero what the union leaves behind */
		__builtin_memset(out->src + 4, 0, 12);
		__builtin_memset(out->dst + 4, 0, 12);
	}
	/* TCP/UDP ports, ICMP id and type/code all sit in the same 16 bits. */
	out->sport = bpf_ntohs(k.src.u.all);
	out->dport = bpf_ntohs(k.dst.u.all);
}

static __always_inline __u64 nt_ct_sock_cgroup(struct sk_buff *skb)
{
	struct sock *sk = BPF_CORE_READ(skb, sk);
	__u8 state;

	if (!sk)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	/* Not a full socket: a time-wait or request mini-socket has no cgroup data. */
	if (state == 6 /* TCP_TIME_WAIT */ || state == 12 /* TCP_NEW_SYN_RECV */)
		return 0;
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

static __always_inline void nt_ct_emit(struct bpf_nf_ctx *ctx, struct nf_conn *ct, __u32 kind, __u32 flags,
				       __u64 ts, __u64 start_ts, __u32 status, __u8 tcp_state)
{
	struct nt_ct_event *e;

	e = bpf_ringbuf_reserve(&ct_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(kind);
		return;
	}
	e->ts = ts;
	e->kind = kind;
	e->flags = flags;
	e->start_ts = start_ts;
	e->cgroup_id = nt_ct_sock_cgroup(ctx->skb);
	e->netns = BPF_CORE_READ(ctx, state, net, ns.inum);
	e->status = status;
	e->mark = 0;
	if (bpf_core_field_exists(ct->mark))
		e->mark = BPF_CORE_READ(ct, mark);
	e->zone = BPF_CORE_READ(ct, zone.id);
	e->hook = BPF_CORE_READ(ctx, state, hook);
	e->tcp_state = tcp_state;
	nt_ct_fill_tuple(&e->orig, &ct->tuplehash[0].tuple);
	nt_ct_fill_tuple(&e->reply, &ct->tuplehash[1].tuple);
	/* Wake the reader only once a batch is waiting: under churn a wakeup per
	 * connection costs the recorder more than the events. It reads the ring at
	 * least every 100 ms regardless. */
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&ct_events, BPF_RB_AVAIL_DATA) >= NT_CT_WAKEUP_BYTES
			      ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Reads the TCP flags byte and the sequence number of the packet; false if
 * the header cannot be located (IPv6 extension headers before TCP). */
static __always_inline bool nt_ct_tcp_header(struct sk_buff *skb, __u8 l3, __u8 *flags, __u32 *seq)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 b[8];
	__u32 off;

	if (l3 == 2) {
		if (bpf_probe_read_kernel(b, 1, head + nh))
			return false;
		off = nh + (b[0] & 0x0f) * 4;
	} else {
		if (bpf_probe_read_kernel(b, 8, head + nh) || b[6] != 6 /* IPPROTO_TCP */)
			return false;
		off = nh + 40;
	}
	if (bpf_probe_read_kernel(b, 8, head + off + 4)) /* seq, ack_seq */
		return false;
	*seq = ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
	if (bpf_probe_read_kernel(b, 1, head + off + 13))
		return false;
	*flags = b[0];
	return true;
}

/* The kernel's BTF id of struct nf_conn, set by the recorder before loading:
 * bpf_core_type_id_kernel() cannot tell it from its flavor nf_conn___init. */
const volatile __u32 nt_nf_conn_type = 0;

SEC("netfilter")
int nt_ct_hook(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned long nfct = skb->_nfct; /* ctx->skb is a trusted pointer: a plain load */
	__u32 ctinfo = nfct & NT_NFCT_INFOMASK;
	/* The entry's fields are plain (fault-safe) loads through an untrusted typed
	 * pointer: a bpf_probe_read_kernel call per field cost more than the rest of
	 * the established-flow path, which runs for every packet. */
	struct nf_conn *ct;
	struct nt_ct_tcp_seen *seen, fresh = {};
	__u32 status, seq = 0;
	__u8 l4, l3, state, tflags = 0, tcpb[4] = {};
	__u64 key, ts;

	if (!(nfct & ~NT_NFCT_INFOMASK) || ctinfo == NT_IP_CT_UNTRACKED)
		return NF_ACCEPT;
	ct = bpf_rdonly_cast((void *)(nfct & ~NT_NFCT_INFOMASK), nt_nf_conn_type);
	status = ct->status;
	l4 = ct->tuplehash[0].tuple.dst.protonum;

	if (!(status & NT_IPS_CONFIRMED)) {
		/* New: this packet created the entry and NAT is settled. */
		ts = bpf_ktime_get_boot_ns();
		state = 0;
		if (l4 == 6) {
			state = BPF_CORE_READ(ct, proto.tcp.state);
			l3 = BPF_CORE_READ(ct, tuplehash[0].tuple.src.l3num);
			if (nt_ct_tcp_header(skb, l3, &tflags, &seq)) {
				key = (__u64)ct;
				fresh.start_ts = ts;
				fresh.syn_seq = seq;
				/* Failing to remember costs at most a retransmitted SYN taken as a re-open. */
				if (bpf_map_update_elem(&tcp_seen, &key, &fresh, BPF_ANY))
					nt_count_loss(NT_KIND_MAP_FULL);
			}
		}
		nt_ct_emit(ctx, ct, NT_KIND_CT_NEW, 0, ts, ts, status, state);
		return NF_ACCEPT;
	}
	if (l4 != 6)
		return NF_ACCEPT;

	state = ct->proto.tcp.state;
	tcpb[1] = ct->proto.tcp.last_dir;
	tcpb[3] = ct->proto.tcp.last_index;
	/* Conntrack notes the flags class and direction of the last packet it took (or
	 * ignored): a SYN it ignored on an entry in any state leaves last_index SYN and
	 * last_dir ORIGINAL. Anything else, unless the state is one a connection starts
	 * or ends in, is the established-flow fast path: no header read, no map. */
	if (!(tcpb[3] == 0 /* TCP_SYN_SET */ && tcpb[1] == 0 /* IP_CT_DIR_ORIGINAL */) &&
	    state != TCP_CONNTRACK_SYN_SENT && state != TCP_CONNTRACK_TIME_WAIT && state != TCP_CONNTRACK_CLOSE)
		return NF_ACCEPT;

	l3 = BPF_CORE_READ(ct, tuplehash[0].tuple.src.l3num);
	if (!nt_ct_tcp_header(skb, l3, &tflags, &seq))
		tflags = 0;
	key = (__u64)ct;
	if (ctinfo < NT_IP_CT_IS_REPLY && (tflags & (NT_TCP_SYN | NT_TCP_ACK)) == NT_TCP_SYN) {
		/* A new SYN on a confirmed entry. Conntrack re-uses an entry in place when
		 * it does not kill it first (CLOSE after a reply-direction RST; ESTABLISHED
		 * when the RST that ended it was out of window): it ignores the SYN, keeps
		 * the state, and gets back in sync from the SYN/ACK. No new entry and no
		 * Netlink NEW: a new connection all the same, through the same mapping.
		 * A retransmitted SYN repeats its seq. */
		seen = bpf_map_lookup_elem(&tcp_seen, &key);
		if (seen && seen->syn_seq == seq)
			return NF_ACCEPT;
		ts = bpf_ktime_get_boot_ns();
		fresh.start_ts = ts;
		fresh.syn_seq = seq;
		if (bpf_map_update_elem(&tcp_seen, &key, &fresh, BPF_ANY))
			nt_count_loss(NT_KIND_MAP_FULL);
		nt_ct_emit(ctx, ct, NT_KIND_CT_NEW, NT_CT_F_REOPEN, ts, ts, status, state);
		return NF_ACCEPT;
	}
	if (state != TCP_CONNTRACK_TIME_WAIT && state != TCP_CONNTRACK_CLOSE)
		return NF_ACCEPT;
	/* TIME_WAIT or CLOSE: the connection's end, reported once per interval. */
	seen = bpf_map_lookup_elem(&tcp_seen, &key);
	if (!seen || seen->ended)
		return NF_ACCEPT;
	seen->ended = 1;
	nt_ct_emit(ctx, ct, NT_KIND_CT_END, (tflags & NT_TCP_RST) ? NT_CT_F_RST : 0, bpf_ktime_get_boot_ns(),
		   seen->start_ts, status, state);
	return NF_ACCEPT;
}
