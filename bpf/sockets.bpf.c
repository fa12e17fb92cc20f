// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Connections to processes. A process identity is recorded only where the
 * kernel runs in that process's own context:
 *   - TCP active open: inet_sock_set_state -> SYN_SENT runs inside connect()
 *     (tcp_v4/v6_connect, also for io_uring and fastopen), so `current` is the
 *     owner. The local port is bound only after that transition, so the
 *     CONNECT event is written when SYN_SENT ends (established or failed),
 *     with the owner remembered from SYN_SENT.
 *   - TCP passive open: the child socket is born in softirq (SYN_RECV, owner
 *     unknown: we keep only the time and cookie). Its owner is the first task
 *     seen working it from a system call: a send or receive on it
 *     (sock_send_length / sock_recv_length run inside sendmsg/recvmsg), or its
 *     close (the moves to FIN_WAIT1 and LAST_ACK happen only in close() and
 *     shutdown()). The ACCEPT event is written then.
 *   - TCP close runs in any context (often softirq): the owner comes from the
 *     per-socket state recorded above, never from `current`.
 *   - UDP: sock_send_length / sock_recv_length run inside the send/recv call
 *     of the owner. An unconnected send's destination comes from the cgroup
 *     sendmsg hook udp_sendmsg runs in the sender's context; a receive's peer
 *     comes from the datagram's headers,
 *     read when it was queued (sk_data_ready) and taken in queue order.
 * No syscall tracepoint: attaching any of them puts every system call of
 * every task on the host onto the tracing slow path. (BPF LSM and fentry
 * would give accept() and sendmsg() directly, but neither attaches on this
 * kernel: both need BPF trampolines.)
 * Per-socket state lives in socket local storage, freed with the socket; a
 * failed allocation is counted as MAP_FULL, and the close then carries
 * NT_SF_NO_STATE instead of a guess. */
#define NT_TASK_CACHE
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

enum {
	TCP_ESTABLISHED_ = 1, TCP_SYN_SENT_ = 2, TCP_SYN_RECV_ = 3, TCP_FIN_WAIT1_ = 4,
	TCP_FIN_WAIT2_ = 5, TCP_TIME_WAIT_ = 6, TCP_CLOSE_ = 7, TCP_CLOSE_WAIT_ = 8,
	TCP_LAST_ACK_ = 9, TCP_LISTEN_ = 10, TCP_CLOSING_ = 11,
};

/* Internal flags on nt_sock_state (never copied into events). */
#define ST_CONNECT_EMITTED (1u << 16) /* the CONNECT event has been written */
#define ST_SEEN            (1u << 17) /* the state was made at SYN_SENT / SYN_RECV / the snapshot */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} sock_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_sock_state);
} socks SEC(".maps");

/* Sockets open at start, by kernel address: the iterator that finds them
 * reaches each socket through an untrusted pointer, which socket storage
 * does not take. Looked up only for a socket without state of its own. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_sock_state);
} snap_socks SEC(".maps");

/* The opens not yet written (CONNECT and ACCEPT records, as written), by the
 * socket's kernel address. The close that deletes its socket's entry writes the
 * open with it (a span); the recorder takes what is left about once a second,
 * deleting as it reads, and stores it as it would have read it off the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_tcp_event);
} pending_opens SEC(".maps");

/* A UDP send in progress, per thread. */
#define UP_DST   (1u << 0) /* dst/dport: an unconnected send's destination, for source port sport */
struct udp_pending {
	__u8 dst[16];
	__u16 dport;
	__u16 sport;
	__u16 dfamily;
	__u16 _pad;
	__u32 flags;
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct udp_pending);
} udp_pending SEC(".maps");

/* One entry per UDP flow (netns, 5-tuple, process); the recorder ends idle ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct nt_udp_key);
	__type(value, struct nt_udp_val);
} udp_flows SEC(".maps");

/* An IPv4-mapped IPv6 tuple (dual-stack socket talking IPv4) is an IPv4 tuple. */
static __always_inline int nt_is_mapped(const __u8 *a)
{
	__u64 lo = *(const __u64 *)a;
	__u32 mid = *(const __u32 *)(a + 8);
	return lo == 0 && mid == bpf_htonl(0x0000ffff);
}

static __always_inline int nt_is_zero6(const __u8 *a)
{
	return *(const __u64 *)a == 0 && *(const __u64 *)(a + 8) == 0;
}

static __always_inline void nt_normalize(struct nt_sock_tuple *t)
{
	if (t->family != AF_INET6 || !nt_is_mapped(t->raddr))
		return;
	if (!nt_is_mapped(t->laddr) && !nt_is_zero6(t->laddr))
		return;
	__builtin_memcpy(t->raddr, t->raddr + 12, 4);
	__builtin_memset(t->raddr + 4, 0, 12);
	__builtin_memcpy(t->laddr, t->laddr + 12, 4);
	__builtin_memset(t->laddr + 4, 0, 12);
	t->family = AF_INET;
}

static __always_inline void nt_read_tuple(const struct sock *sk, struct nt_sock_tuple *t, __u8 proto)
{
	const struct sock_common *c = &sk->__sk_common;

	__builtin_memset(t, 0, sizeof(*t));
	t->family = c->skc_family;
	t->lport = c->skc_num;
	/* TCP_CLOSE is traced after the port is released (inet_put_port zeroes
	 * inet_num); the source port the socket used is still in inet_sport. */
	if (t->lport == 0)
		t->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	t->rport = bpf_ntohs(c->skc_dport);
	t->protocol = proto;
	if (t->family == AF_INET) {
		*(__u32 *)t->laddr = c->skc_rcv_saddr;
		*(__u32 *)t->raddr = c->skc_daddr;
	} else {
		__builtin_memcpy(t->laddr, &c->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(t->raddr, &c->skc_v6_daddr, 16);
	}
}

static __always_inline __u32 nt_sk_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline int nt_sk_is(const struct sock *sk, __u16 proto)
{
	__u16 family;

	if (!sk || sk->sk_protocol != proto)
		return 0;
	family = sk->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

static __always_inline int nt_was_established(int oldstate)
{
	return oldstate != TCP_SYN_SENT_ && oldstate != TCP_SYN_RECV_ && oldstate != TCP_CLOSE_ &&
	       oldstate != TCP_LISTEN_;
}

static __always_inline struct nt_sock_state *nt_state(const struct sock *sk, __u64 flags)
{
	return bpf_sk_storage_get(&socks, (struct sock *)sk, 0, flags);
}

/* Fills a TCP record; `owner` (in-context task) or `st` (remembered owner) or neither. */
static __always_inline void nt_tcp_fill(struct nt_tcp_event *e, __u64 ts, __u32 kind, const struct sock *sk,
					__u64 cookie, __u64 start_ts, __u32 flags, struct task_struct *owner,
					const struct nt_sock_state *st, __s32 result, __u32 oldstate)
{
	e->ts = ts;
	e->kind = kind;
	if (owner) {
		nt_fill_task(&e->task, owner);
		flags |= NT_SF_OWNER;
	} else if (st && (st->flags & NT_SF_OWNER)) {
		e->task = st->task;
		flags |= NT_SF_OWNER;
	} else {
		__builtin_memset(&e->task, 0, sizeof(e->task));
	}
	e->flags = flags;
	nt_read_tuple(sk, &e->tuple, IPPROTO_TCP_);
	nt_normalize(&e->tuple);
	e->cookie = cookie;
	e->sk = (__u64)sk;
	e->start_ts = start_ts;
	e->netns = nt_sk_netns(sk);
	e->result = result;
	e->oldstate = oldstate;
	if (kind == NT_KIND_TCP_CLOSE || kind == NT_KIND_TCP_SPAN) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
		e->bytes_acked = tp ? tp->bytes_acked : 0;
		e->bytes_received = tp ? tp->bytes_received : 0;
		e->total_retrans = tp ? tp->total_retrans : 0;
	} else {
		e->bytes_acked = 0;
		e->bytes_received = 0;
		e->total_retrans = 0;
	}
}

static __always_inline void nt_tcp_emit(__u32 kind, const struct sock *sk, __u64 cookie, __u64 start_ts,
					__u32 flags, struct task_struct *owner,
					const struct nt_sock_state *st, __s32 result, __u32 oldstate)
{
	struct nt_tcp_event *e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);

	if (!e) {
		nt_count_loss(kind);
		return;
	}
	nt_tcp_fill(e, bpf_ktime_get_boot_ns(), kind, sk, cookie, start_ts, flags, owner, st, result, oldstate);
	nt_submit(&sock_events, e);
}

/* A close, and its open when this close took it back from pending_opens. */
static __always_inline void nt_tcp_emit_close(const struct sock *sk, __u64 cookie, __u64 start_ts, __u32 flags,
					      const struct nt_sock_state *st, __u32 oldstate, bool span)
{
	struct nt_tcp_span *rec;

	if (!span) {
		nt_tcp_emit(NT_KIND_TCP_CLOSE, sk, cookie, start_ts, flags, 0, st, 0, oldstate);
		return;
	}
	rec = bpf_ringbuf_reserve(&sock_events, sizeof(*rec), 0);
	if (!rec) {
		nt_count_loss(NT_KIND_TCP_SPAN);
		return;
	}
	nt_tcp_fill(&rec->close, bpf_ktime_get_boot_ns(), NT_KIND_TCP_SPAN, sk, cookie, start_ts, flags, 0, st, 0,
		    oldstate);
	rec->open_ts = st->open_ts;
	rec->open_kind = st->open_kind;
	rec->open_flags = st->open_flags;
	rec->open_result = st->open_result;
	rec->_pad = 0;
	nt_submit(&sock_events, rec);
}

/* Per CPU: an open record being built for pending_opens (too big for the stack beside the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_tcp_event);
} open_scratch SEC(".maps");

/* An open, kept back for its close to write with it (a span); written to the
 * ring at once when it cannot be kept. */
static __always_inline void nt_keep_open(struct nt_sock_state *st, const struct sock *sk, __u32 kind, __u32 flags,
					 __s32 result)
{
	__u32 oldstate = kind == NT_KIND_TCP_CONNECT ? TCP_SYN_SENT_ : TCP_ESTABLISHED_;
	__u64 key = (__u64)sk, ts = bpf_ktime_get_boot_ns();
	__u32 zero = 0;
	struct nt_tcp_event *e = bpf_map_lookup_elem(&open_scratch, &zero);

	st->open_pending = 0;
	if (!e)
		return;
	nt_tcp_fill(e, ts, kind, sk, st->cookie, st->start_ts, flags, 0, st, result, oldstate);
	if (bpf_map_update_elem(&pending_opens, &key, e, BPF_ANY) != 0) {
		if (bpf_ringbuf_output(&sock_events, e, sizeof(*e), nt_wakeup(&sock_events)) != 0)
			nt_count_loss(kind);
		return;
	}
	st->open_ts = ts;
	st->open_kind = kind;
	st->open_flags = flags;
	st->open_result = result;
	st->open_pending = 1;
}

/* True if the caller took its socket's open back (then it writes it, with the close). */
static __always_inline bool nt_take_open(struct nt_sock_state *st, const struct sock *sk)
{
	__u64 key = (__u64)sk;

	if (!st->open_pending)
		return false;
	st->open_pending = 0;
	return bpf_map_delete_elem(&pending_opens, &key) == 0;
}

/* A passive socket worked by `current` from a system call: its owner, if it
 * has none yet. Sockets with no state here predate the recording (still in
 * an accept queue at start): their owner is taken from now on. */
static __always_inline void nt_tcp_owner_seen(const struct sock *sk)
{
	struct nt_sock_state *st = nt_state(sk, BPF_SK_STORAGE_GET_F_CREATE);
	__u32 flags = 0;
	int state;

	if (!st)
		return;
	if (!(st->flags & ST_SEEN)) {
		__u64 key = (__u64)sk;
		struct nt_sock_state *snap = bpf_map_lookup_elem(&snap_socks, &key);

		if (snap) {
			*st = *snap;
			bpf_map_delete_elem(&snap_socks, &key);
		}
	}
	if (st->flags & (NT_SF_OWNER | NT_SF_SHARED))
		return;
	state = sk->__sk_common.skc_state;
	if (state == TCP_LISTEN_ || state == TCP_CLOSE_ || state == TCP_SYN_SENT_)
		return;
	if (!(st->flags & ST_SEEN)) {
		flags |= NT_SF_NO_STATE;
		st->cookie = sk->__sk_common.skc_cookie.counter;
		st->start_ts = 0;
		st->flags = NT_SF_ESTABLISHED | ST_SEEN;
	}
	st->flags |= NT_SF_OWNER;
	nt_fill_current(&st->task);
	nt_keep_open(st, sk, NT_KIND_TCP_ACCEPT, flags | NT_SF_OWNER, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(nt_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	struct nt_sock_state *st;

	if (sk->sk_protocol != IPPROTO_TCP_)
		return 0;

	if (newstate == TCP_SYN_SENT_) {
		/* Inside connect() (or a fastopen sendmsg, an io_uring connect): current owns the socket. */
		st = nt_state(sk, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			nt_count_loss(NT_KIND_MAP_FULL);
			return 0;
		}
		st->start_ts = bpf_ktime_get_boot_ns();
		st->cookie = bpf_get_socket_cookie((void *)sk);
		st->flags = NT_SF_OWNER | ST_SEEN;
		nt_fill_current(&st->task);
		return 0;
	}

	if (newstate == TCP_SYN_RECV_) {
		/* A passive child being born, in softirq: time and cookie only, no owner. */
		st = nt_state(sk, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			nt_count_loss(NT_KIND_MAP_FULL);
			return 0;
		}
		if (!(st->flags & ST_SEEN)) {
			st->start_ts = bpf_ktime_get_boot_ns();
			st->cookie = bpf_get_socket_cookie((void *)sk);
			st->flags = ST_SEEN;
		}
		return 0;
	}

	if (oldstate == TCP_SYN_SENT_) {
		/* The attempt's outcome, and the first moment the tuple is whole. */
		__s32 result = 0;

		st = nt_state(sk, 0);
		if (!st || (st->flags & ST_CONNECT_EMITTED))
			goto close;
		st->flags |= ST_CONNECT_EMITTED;
		if (newstate == TCP_ESTABLISHED_)
			st->flags |= NT_SF_ESTABLISHED;
		else
			result = sk->sk_err ? -sk->sk_err : -1;
		nt_keep_open(st, sk, NT_KIND_TCP_CONNECT, st->flags & NT_SF_OWNER, result);
		goto close;
	}

	if (newstate == TCP_FIN_WAIT1_ || newstate == TCP_LAST_ACK_) {
		/* close() or shutdown() by a task holding the socket. */
		nt_tcp_owner_seen(sk);
		return 0;
	}

	/* SYN_RECV -> ESTABLISHED needs no state: a close says established by its old state. */
	if (newstate != TCP_CLOSE_ || oldstate == TCP_LISTEN_)
		return 0;
	st = 0;
close:
	if (newstate != TCP_CLOSE_ || oldstate == TCP_LISTEN_)
		return 0;
	{
		__u32 flags = nt_was_established(oldstate) ? NT_SF_ESTABLISHED : 0;
		__u64 cookie;
		__u64 start = 0;

		if (!st)
			st = nt_state(sk, 0);
		if (!st || !(st->flags & ST_SEEN)) {
			__u64 key = (__u64)sk;
			struct nt_sock_state *snap = bpf_map_lookup_elem(&snap_socks, &key);

			if (snap && st) {
				*st = *snap;
				bpf_map_delete_elem(&snap_socks, &key);
			} else if (snap) {
				/* No storage could be made for it: the event copies the snapshot's state. */
				flags |= snap->flags & (NT_SF_ESTABLISHED | NT_SF_SHARED);
				nt_tcp_emit(NT_KIND_TCP_CLOSE, sk, snap->cookie, snap->start_ts, flags, 0, snap, 0, oldstate);
				bpf_map_delete_elem(&snap_socks, &key);
				return 0;
			}
		}
		if (st && (st->flags & (ST_SEEN | NT_SF_OWNER))) {
			flags |= st->flags & (NT_SF_ESTABLISHED | NT_SF_SHARED);
			cookie = st->cookie;
			start = st->start_ts;
		} else {
			flags |= NT_SF_NO_STATE;
			cookie = bpf_get_socket_cookie((void *)sk);
			st = 0;
		}
		nt_tcp_emit_close(sk, cookie, start, flags, st, oldstate, st && nt_take_open(st, sk));
		/* A socket reconnected after tcp_disconnect() starts over at SYN_SENT. */
		if (st)
			st->flags = 0;
	}
	return 0;
}

/* ---- UDP ---------------------------------------------------------------- */

/* The flow is keyed by the socket's bound address: a socket bound to the
 * wildcard keys both directions with it, so its sends (no source address yet)
 * and receives (the datagram's destination) are one flow. */
static __always_inline void nt_udp_flow(const struct sock *sk, struct nt_sock_tuple *t,
					__u32 bytes, __u32 flags, int bound_any)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct nt_udp_key k = {};
	struct nt_udp_val *v, nv = {};
	struct nt_udp_event *e;
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 netns = nt_sk_netns(sk);
	int rx = flags & NT_SF_UDP_RX;

	nt_normalize(t);
	if (bound_any)
		flags |= NT_SF_LADDR_ANY;
	else
		__builtin_memcpy(k.laddr, t->laddr, 16);
	__builtin_memcpy(k.raddr, t->raddr, 16);
	k.lport = t->lport;
	k.rport = t->rport;
	k.family = t->family;
	k.netns = netns;
	k.pid = task->tgid;
	k.start_ns = task->group_leader->start_boottime;

	v = bpf_map_lookup_elem(&udp_flows, &k);
	if (v) {
		v->last_ts = now;
		if (rx) {
			__sync_fetch_and_add(&v->rx_bytes, bytes);
			__sync_fetch_and_add(&v->rx_packets, 1);
		} else {
			__sync_fetch_and_add(&v->tx_bytes, bytes);
			__sync_fetch_and_add(&v->tx_packets, 1);
		}
		return;
	}
	nv.first_ts = now;
	nv.last_ts = now;
	if (rx) {
		nv.rx_bytes = bytes;
		nv.rx_packets = 1;
	} else {
		nv.tx_bytes = bytes;
		nv.tx_packets = 1;
	}
	if (bpf_map_update_elem(&udp_flows, &k, &nv, BPF_NOEXIST) != 0)
		return; /* another CPU inserted it first: that one reports it */

	e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(NT_KIND_UDP_FLOW);
		/* Forget it so the next datagram tries again. */
		bpf_map_delete_elem(&udp_flows, &k);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now;
	e->kind = NT_KIND_UDP_FLOW;
	e->flags = flags | NT_SF_OWNER;
	nt_fill_current(&e->task);
	e->tuple = *t;
	e->cookie = bpf_get_socket_cookie((void *)sk);
	e->netns = netns;
	e->bytes = bytes;
	nt_submit(&sock_events, e);
}

/* An unconnected send's destination, from the cgroup hook udp_sendmsg and
 * udpv6_sendmsg run for it in the sender's context (after the source port is
 * bound), kept for the sock_send_length that follows (which checks the source
 * port). A hook at the root of the cgroup hierarchy runs only for such sends;
 * a route-lookup tracepoint would also run for every packet the host routes. */
static __always_inline void nt_stash_dst(const __u32 *daddr, __u32 len, __u16 family, __u32 dport_be, __u16 sport)
{
	struct udp_pending *p;

	p = bpf_task_storage_get(&udp_pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return;
	__builtin_memset(p->dst, 0, 16);
	if (len == 4) {
		*(__u32 *)p->dst = daddr[0];
	} else {
		((__u32 *)p->dst)[0] = daddr[0];
		((__u32 *)p->dst)[1] = daddr[1];
		((__u32 *)p->dst)[2] = daddr[2];
		((__u32 *)p->dst)[3] = daddr[3];
	}
	p->dport = bpf_ntohs((__u16)dport_be);
	p->sport = sport;
	p->dfamily = family;
	p->flags |= UP_DST;
}

#define NT_SOCK_ADDR_ALLOW 1

SEC("cgroup/sendmsg4")
int nt_udp_dst4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 dst = ctx->user_ip4;

	if (sk && ctx->protocol == IPPROTO_UDP_)
		nt_stash_dst(&dst, 4, AF_INET, ctx->user_port, sk->src_port);
	return NT_SOCK_ADDR_ALLOW;
}

SEC("cgroup/sendmsg6")
int nt_udp_dst6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 dst[4];

	if (!sk || ctx->protocol != IPPROTO_UDP_)
		return NT_SOCK_ADDR_ALLOW;
	dst[0] = ctx->user_ip6[0];
	dst[1] = ctx->user_ip6[1];
	dst[2] = ctx->user_ip6[2];
	dst[3] = ctx->user_ip6[3];
	nt_stash_dst(dst, 16, AF_INET6, ctx->user_port, sk->src_port);
	return NT_SOCK_ADDR_ALLOW;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(nt_sock_send, struct sock *sk, int ret, int flags)
{
	struct nt_sock_tuple t;
	__u32 f = 0;

	if (sk->sk_protocol == IPPROTO_TCP_) {
		if (ret >= 0)
			nt_tcp_owner_seen(sk);
		return 0;
	}
	if (!nt_sk_is(sk, IPPROTO_UDP_))
		return 0;
	nt_read_tuple(sk, &t, IPPROTO_UDP_);
	if (t.rport == 0) {
		struct udp_pending *p = bpf_task_storage_get(&udp_pending, bpf_get_current_task_btf(), 0, 0);

		if (p && (p->flags & UP_DST) && p->sport == t.lport) {
			if (p->dfamily == t.family) {
				__builtin_memcpy(t.raddr, p->dst, 16);
			} else if (p->dfamily == AF_INET) {
				/* A v4 destination on a dual-stack socket. */
				__builtin_memset(t.raddr, 0, 10);
				t.raddr[10] = 0xff;
				t.raddr[11] = 0xff;
				__builtin_memcpy(t.raddr + 12, p->dst, 4);
			} else {
				f |= NT_SF_RADDR_UNKNOWN;
			}
			t.rport = p->dport;
		} else {
			f |= NT_SF_RADDR_UNKNOWN;
		}
		if (p)
			p->flags &= ~UP_DST;
	}
	if (ret < 0)
		return 0;
	nt_udp_flow(sk, &t, ret, f, nt_is_zero6(t.laddr));
	return 0;
}

/* The datagrams queued on a UDP socket, in queue order, as seen when each
 * was queued (sk_data_ready runs right after): where each came from and was
 * sent to. UDP sockets are read in queue order, so each receive takes the
 * oldest; `skip` counts datagrams already queued when the first was seen,
 * which the receives take first, unknown. */
#define RXQ_SLOTS 16
struct rx_slot {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 _pad;
};
struct rx_queue {
	__u32 head;
	__u32 tail;
	__u32 skip;
	__u32 _pad;
	struct rx_slot slot[RXQ_SLOTS];
};
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rx_queue);
} udp_rxq SEC(".maps");

/* The tuple of a UDP datagram from its headers. */
static __always_inline int nt_skb_tuple(const struct sk_buff *skb, struct rx_slot *t)
{
	__u16 proto = bpf_ntohs(skb->protocol), nh, th;
	unsigned char *head = skb->head;
	struct udphdr uh;

	nh = skb->network_header;
	th = skb->transport_header;
	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) != 0 || ip.protocol != IPPROTO_UDP_)
			return -1;
		t->family = AF_INET;
		__builtin_memset(t->laddr, 0, 16);
		__builtin_memset(t->raddr, 0, 16);
		__builtin_memcpy(t->laddr, &ip.daddr, 4);
		__builtin_memcpy(t->raddr, &ip.saddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) != 0 || ip6.nexthdr != IPPROTO_UDP_)
			return -1;
		t->family = AF_INET6;
		__builtin_memcpy(t->laddr, &ip6.daddr, 16);
		__builtin_memcpy(t->raddr, &ip6.saddr, 16);
	} else {
		return -1;
	}
	if (th == (__u16)~0U || bpf_probe_read_kernel(&uh, sizeof(uh), head + th) != 0)
		return -1;
	t->lport = bpf_ntohs(uh.dest);
	t->rport = bpf_ntohs(uh.source);
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(nt_udp_queued, const struct sock *sk)
{
	struct rx_queue *q;
	struct sk_buff *skb;
	__u32 i;

	if (sk->sk_protocol != IPPROTO_UDP_)
		return 0;
	/* Under the queue lock the datagram went to the tail; it is still there. */
	skb = sk->sk_receive_queue.prev;
	if (!skb || (void *)skb == (void *)&sk->sk_receive_queue)
		return 0;
	q = bpf_sk_storage_get(&udp_rxq, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!q)
		return 0;
	if (q->head == 0 && q->tail == 0 && q->skip == 0) {
		__u32 earlier = sk->sk_receive_queue.qlen;

		earlier += BPF_CORE_READ((struct udp_sock *)sk, reader_queue.qlen);
		q->skip = earlier > 0 ? earlier - 1 : 0;
	}
	i = q->tail;
	if (nt_skb_tuple(skb, &q->slot[i & (RXQ_SLOTS - 1)]) != 0)
		__builtin_memset(&q->slot[i & (RXQ_SLOTS - 1)], 0, sizeof(struct rx_slot));
	q->tail = i + 1;
	return 0;
}

/* The oldest queued datagram's tuple, taken by this receive (MSG_PEEK leaves it). */
static __always_inline int nt_rx_take(const struct sock *sk, struct nt_sock_tuple *t, int peek)
{
	struct rx_queue *q = bpf_sk_storage_get(&udp_rxq, (struct sock *)sk, 0, 0);
	struct rx_slot *sl;
	__u32 h;

	if (!q)
		return -1;
	if (q->skip > 0) {
		if (!peek)
			q->skip -= 1;
		return -1;
	}
	h = q->head;
	if (h >= q->tail)
		return -1;
	if (q->tail - h > RXQ_SLOTS) {
		/* More queued than kept: the oldest are gone. */
		if (!peek)
			q->head = h + 1;
		return -1;
	}
	sl = &q->slot[h & (RXQ_SLOTS - 1)];
	if (!peek)
		q->head = h + 1;
	if (sl->family == 0)
		return -1;
	__builtin_memcpy(t->laddr, sl->laddr, 16);
	__builtin_memcpy(t->raddr, sl->raddr, 16);
	t->lport = sl->lport;
	t->rport = sl->rport;
	t->family = sl->family;
	t->protocol = IPPROTO_UDP_;
	return 0;
}

#define MSG_PEEK_ 2

SEC("tp_btf/sock_recv_length")
int BPF_PROG(nt_sock_recv, struct sock *sk, int ret, int flags)
{
	struct nt_sock_tuple t = {}, bound = {};
	__u32 f = NT_SF_UDP_RX;
	int seen;

	if (sk->sk_protocol == IPPROTO_TCP_) {
		if (ret >= 0)
			nt_tcp_owner_seen(sk);
		return 0;
	}
	if (!nt_sk_is(sk, IPPROTO_UDP_) || ret < 0)
		return 0;
	seen = nt_rx_take(sk, &t, flags & MSG_PEEK_) == 0;
	nt_read_tuple(sk, &bound, IPPROTO_UDP_);
	nt_normalize(&bound);
	if (!seen) {
		if (bound.rport != 0) {
			/* Connected: the socket names its peer. */
			t = bound;
		} else {
			nt_read_tuple(sk, &t, IPPROTO_UDP_);
			f |= NT_SF_RADDR_UNKNOWN;
		}
	}
	nt_udp_flow(sk, &t, ret, f, nt_is_zero6(bound.laddr));
	return 0;
}

/* ---- startup snapshot ---------------------------------------------------- */

/* Run once after attaching: every TCP socket open in some process's file table,
 * with that process (the file table is the owner's own). Also seeds `socks` so
 * the close of a socket older than the recording names its owner; a socket open
 * in several processes (inherited across fork, passed over a unix socket) is
 * marked shared instead. */
SEC("iter/task_file")
int nt_sock_iter(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct nt_tcp_event e = {};
	struct nt_sock_state *st;
	struct socket *so;
	struct sock *sk;
	int state;

	if (!task || !file)
		return 0;
	so = bpf_sock_from_file(file);
	if (!so)
		return 0;
	sk = so->sk;
	if (!nt_sk_is(sk, IPPROTO_TCP_))
		return 0;
	state = sk->__sk_common.skc_state;
	if (state == TCP_LISTEN_ || state == TCP_CLOSE_)
		return 0;
	e.ts = bpf_ktime_get_boot_ns();
	e.kind = NT_KIND_NONE;
	e.flags = NT_SF_SNAPSHOT | NT_SF_OWNER;
	nt_fill_task(&e.task, task);
	nt_read_tuple(sk, &e.tuple, IPPROTO_TCP_);
	nt_normalize(&e.tuple);
	e.sk = (__u64)sk;
	e.netns = nt_sk_netns(sk);
	e.result = ctx->fd;
	e.oldstate = state;

	st = bpf_map_lookup_elem(&snap_socks, &e.sk);
	if (st) {
		e.cookie = st->cookie;
		if ((st->flags & NT_SF_OWNER) && st->task.pid != e.task.pid) {
			st->flags &= ~NT_SF_OWNER;
			st->flags |= NT_SF_SHARED;
		}
	} else {
		struct nt_sock_state s = {};

		/* 0 if never asked for: then the close carries 0 too and sk joins them. */
		e.cookie = sk->__sk_common.skc_cookie.counter;
		s.cookie = e.cookie;
		s.flags = NT_SF_OWNER | NT_SF_ESTABLISHED | ST_CONNECT_EMITTED | ST_SEEN;
		s.task = e.task;
		if (bpf_map_update_elem(&snap_socks, &e.sk, &s, BPF_NOEXIST) != 0)
			nt_count_loss(NT_KIND_MAP_FULL);
	}
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	return 0;
}
