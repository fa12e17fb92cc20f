// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Connections to processes. A process identity is recorded only where the
 * kernel runs in that process's own context:
 *   - TCP active open: inet_sock_set_state -> SYN_SENT runs inside connect()
 *     (tcp_v4/v6_connect), so `current` is the owner; the CONNECT event is
 *     written at connect()'s return, when the local port is bound.
 *   - TCP passive open: the child socket is born in softirq (SYN_RECV, owner
 *     unknown: we keep only the time and cookie); the owner becomes known at
 *     accept()'s return, where the new fd is resolved to its socket.
 *   - TCP close runs in any context (often softirq): the owner comes from the
 *     per-socket state recorded above, never from `current`.
 *   - UDP: sock_send_length / sock_recv_length run inside the send/recv
 *     system call of the owner.
 * The per-socket state map is bounded; a failed insert is counted as
 * MAP_FULL, and the close then carries NT_SF_NO_STATE instead of a guess. */
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

/* Internal flag on nt_sock_state: the CONNECT event has been written. */
#define ST_CONNECT_EMITTED (1u << 16)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} sock_events SEC(".maps");

/* Kernel socket address -> what we know about it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_sock_state);
} socks SEC(".maps");

/* A connect() in flight: thread (pid_tgid) -> the socket that went SYN_SENT. */
struct connecting {
	__u64 sk;
	__u64 cookie;
	__u64 ts;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct connecting);
} connecting SEC(".maps");

/* UDP send in flight: thread -> the user pointer to the destination. */
struct udp_dst {
	__u64 ptr;
	__u32 type; /* 1 = sockaddr (sendto), 2 = user_msghdr (sendmsg) */
	__u32 _pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct udp_dst);
} udp_dst SEC(".maps");

/* UDP receive in flight: thread -> the datagram's tuple (from its headers). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct nt_sock_tuple);
} udp_rx SEC(".maps");

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
	__builtin_memset(t, 0, sizeof(*t));
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* TCP_CLOSE is traced after the port is released (inet_put_port zeroes
	 * inet_num); the source port the socket used is still in inet_sport. */
	if (t->lport == 0)
		t->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	t->protocol = proto;
	if (t->family == AF_INET) {
		bpf_core_read(t->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline __u32 nt_sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline int nt_sk_is(const struct sock *sk, __u16 proto)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return BPF_CORE_READ(sk, sk_protocol) == proto;
}

static __always_inline int nt_was_established(int oldstate)
{
	return oldstate != TCP_SYN_SENT_ && oldstate != TCP_SYN_RECV_ && oldstate != TCP_CLOSE_ &&
	       oldstate != TCP_LISTEN_;
}

/* Writes a TCP event; `owner` (in-context task) or `st` (remembered owner) or neither. */
static __always_inline void nt_tcp_emit(__u32 kind, const struct sock *sk, __u64 cookie, __u64 start_ts,
					__u32 flags, struct task_struct *owner,
					const struct nt_sock_state *st, __s32 result, __u32 oldstate)
{
	struct nt_tcp_event *e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(kind);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = kind;
	if (owner) {
		nt_fill_task(&e->task, owner);
		flags |= NT_SF_OWNER;
	} else if (st && (st->flags & NT_SF_OWNER)) {
		e->task = st->task;
		flags |= NT_SF_OWNER;
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
	if (kind == NT_KIND_TCP_CLOSE) {
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;
		e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		e->bytes_received = BPF_CORE_READ(tp, bytes_received);
		e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	}
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(nt_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;
	struct nt_sock_state *st;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_)
		return 0;

	if (newstate == TCP_SYN_SENT_) {
		/* Inside connect() (or a fastopen sendmsg): current owns the socket. */
		struct nt_sock_state s = {};
		struct connecting c = {};
		__u64 id = bpf_get_current_pid_tgid();

		s.start_ts = bpf_ktime_get_boot_ns();
		s.cookie = bpf_get_socket_cookie((void *)sk);
		s.flags = NT_SF_OWNER;
		nt_fill_task(&s.task, bpf_get_current_task_btf());
		if (bpf_map_update_elem(&socks, &key, &s, BPF_ANY) != 0)
			nt_count_loss(NT_KIND_MAP_FULL);
		c.sk = key;
		c.cookie = s.cookie;
		c.ts = s.start_ts;
		if (bpf_map_update_elem(&connecting, &id, &c, BPF_ANY) != 0)
			nt_count_loss(NT_KIND_MAP_FULL);
		return 0;
	}

	if (newstate == TCP_SYN_RECV_) {
		/* A passive child being born, in softirq: time and cookie only, no owner. */
		struct nt_sock_state s = {};

		s.start_ts = bpf_ktime_get_boot_ns();
		s.cookie = bpf_get_socket_cookie((void *)sk);
		if (bpf_map_update_elem(&socks, &key, &s, BPF_NOEXIST) != 0 &&
		    !bpf_map_lookup_elem(&socks, &key))
			nt_count_loss(NT_KIND_MAP_FULL);
		return 0;
	}

	st = bpf_map_lookup_elem(&socks, &key);

	if (oldstate == TCP_SYN_SENT_ && st && !(st->flags & ST_CONNECT_EMITTED)) {
		/* No connect() return will report it if none is in flight (io_uring,
		 * TCP fastopen): report it now, with the owner recorded at SYN_SENT. */
		__u64 id = ((__u64)st->task.pid << 32) | st->task.tid;
		struct connecting *c = bpf_map_lookup_elem(&connecting, &id);

		if (!c || c->sk != key) {
			st->flags |= ST_CONNECT_EMITTED;
			nt_tcp_emit(NT_KIND_TCP_CONNECT, sk, st->cookie, st->start_ts, NT_SF_NOT_SYSCALL, 0, st,
				    newstate == TCP_ESTABLISHED_ ? 0 : -1, oldstate);
		}
	}

	if (newstate == TCP_ESTABLISHED_) {
		if (st)
			st->flags |= NT_SF_ESTABLISHED;
		return 0;
	}

	if (newstate != TCP_CLOSE_)
		return 0;
	if (oldstate == TCP_LISTEN_) {
		if (st)
			bpf_map_delete_elem(&socks, &key);
		return 0;
	}
	{
		__u32 flags = nt_was_established(oldstate) ? NT_SF_ESTABLISHED : 0;
		__u64 cookie;
		__u64 start = 0;

		if (st) {
			flags |= st->flags & (NT_SF_ESTABLISHED | NT_SF_SHARED);
			cookie = st->cookie;
			start = st->start_ts;
		} else {
			flags |= NT_SF_NO_STATE;
			cookie = bpf_get_socket_cookie((void *)sk);
		}
		nt_tcp_emit(NT_KIND_TCP_CLOSE, sk, cookie, start, flags, 0, st, 0, oldstate);
		if (st)
			bpf_map_delete_elem(&socks, &key);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int nt_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connecting *cp = bpf_map_lookup_elem(&connecting, &id);
	struct connecting c;
	struct nt_sock_state *st;

	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&connecting, &id);
	st = bpf_map_lookup_elem(&socks, &c.sk);
	if (st)
		st->flags |= ST_CONNECT_EMITTED;
	nt_tcp_emit(NT_KIND_TCP_CONNECT, (const struct sock *)c.sk, c.cookie, c.ts, st ? 0 : NT_SF_NO_STATE,
		    bpf_get_current_task_btf(), 0, (__s32)ctx->ret, TCP_SYN_SENT_);
	return 0;
}

/* The socket behind file descriptor `fd` of the current task, or 0. */
static __always_inline struct sock *nt_fd_sock(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = 0;
	struct socket *so;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
		return 0;
	so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, file) != f)
		return 0;
	return BPF_CORE_READ(so, sk);
}

static __always_inline int nt_accept_exit(long ret)
{
	struct sock *sk;
	__u64 key;
	struct nt_sock_state *st;
	__u64 cookie, start = 0;
	__u32 flags = 0;

	if (ret < 0)
		return 0;
	sk = nt_fd_sock(ret);
	if (!sk || !nt_sk_is(sk, IPPROTO_TCP_))
		return 0;
	key = (__u64)sk;
	st = bpf_map_lookup_elem(&socks, &key);
	if (st) {
		cookie = st->cookie;
		start = st->start_ts;
		st->flags |= NT_SF_OWNER;
		nt_fill_task(&st->task, bpf_get_current_task_btf());
	} else {
		/* Born before we attached (or the map was full): remember the owner now. */
		struct nt_sock_state s = {};

		cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
		flags |= NT_SF_NO_STATE;
		s.cookie = cookie;
		s.flags = NT_SF_OWNER | NT_SF_ESTABLISHED;
		nt_fill_task(&s.task, bpf_get_current_task_btf());
		if (bpf_map_update_elem(&socks, &key, &s, BPF_NOEXIST) != 0)
			nt_count_loss(NT_KIND_MAP_FULL);
	}
	nt_tcp_emit(NT_KIND_TCP_ACCEPT, sk, cookie, start, flags, bpf_get_current_task_btf(), 0, (__s32)ret,
		    TCP_ESTABLISHED_);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int nt_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return nt_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int nt_accept_exit_plain(struct trace_event_raw_sys_exit *ctx)
{
	return nt_accept_exit(ctx->ret);
}

/* ---- UDP ---------------------------------------------------------------- */

/* The flow is keyed by the socket's bound address: a socket bound to the
 * wildcard keys both directions with it, so its sends (no source address yet)
 * and receives (the datagram's destination) are one flow. */
static __always_inline void nt_udp_flow(const struct sock *sk, __u64 cookie, struct nt_sock_tuple *t,
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
	k.pid = bpf_get_current_pid_tgid() >> 32;
	k.start_ns = BPF_CORE_READ(task, group_leader, start_boottime);

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
	nt_fill_task(&e->task, task);
	e->tuple = *t;
	e->cookie = cookie;
	e->netns = netns;
	e->bytes = bytes;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void nt_stash_dst(__u64 ptr, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct udp_dst d = { .ptr = ptr, .type = type };

	if (!ptr)
		return;
	bpf_map_update_elem(&udp_dst, &id, &d, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int nt_sendto_enter(struct trace_event_raw_sys_enter *ctx)
{
	nt_stash_dst(ctx->args[4], 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int nt_sendmsg_enter(struct trace_event_raw_sys_enter *ctx)
{
	nt_stash_dst(ctx->args[1], 2);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int nt_sendto_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&udp_dst, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int nt_sendmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&udp_dst, &id);
	return 0;
}

/* Reads the peer of an unconnected send/receive from the caller's sockaddr
 * (sendto/recvfrom) or msghdr (sendmsg/recvmsg) into t->raddr, t->rport. */
static __always_inline int nt_read_sockaddr(struct udp_dst *d, struct nt_sock_tuple *t)
{
	void *sa = 0;
	__u16 family = 0;

	if (!d)
		return -1;
	if (d->type == 2) {
		/* struct user_msghdr starts with void __user *msg_name. */
		if (bpf_probe_read_user(&sa, sizeof(sa), (void *)d->ptr) != 0 || !sa)
			return -1;
	} else {
		sa = (void *)d->ptr;
	}
	if (bpf_probe_read_user(&family, sizeof(family), sa) != 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in in = {};
		if (bpf_probe_read_user(&in, sizeof(in), sa) != 0)
			return -1;
		if (t->family == AF_INET6) {
			/* A v4 destination on a dual-stack socket. */
			__builtin_memset(t->raddr, 0, 10);
			t->raddr[10] = 0xff;
			t->raddr[11] = 0xff;
			__builtin_memcpy(t->raddr + 12, &in.sin_addr.s_addr, 4);
		} else {
			__builtin_memcpy(t->raddr, &in.sin_addr.s_addr, 4);
		}
		t->rport = bpf_ntohs(in.sin_port);
		return 0;
	}
	if (family == AF_INET6 && t->family == AF_INET6) {
		struct sockaddr_in6 in6 = {};
		if (bpf_probe_read_user(&in6, sizeof(in6), sa) != 0)
			return -1;
		__builtin_memcpy(t->raddr, &in6.sin6_addr, 16);
		t->rport = bpf_ntohs(in6.sin6_port);
		return 0;
	}
	return -1;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(nt_sock_send, struct sock *sk, int ret, int flags)
{
	struct nt_sock_tuple t;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 f = 0;

	if (ret < 0 || !nt_sk_is(sk, IPPROTO_UDP_))
		return 0;
	nt_read_tuple(sk, &t, IPPROTO_UDP_);
	if (t.rport == 0 && nt_read_sockaddr(bpf_map_lookup_elem(&udp_dst, &id), &t) != 0)
		f |= NT_SF_RADDR_UNKNOWN;
	nt_udp_flow(sk, bpf_get_socket_cookie(sk), &t, ret, f, nt_is_zero6(t.laddr));
	return 0;
}

/* The datagram being copied to the caller: its headers give the full tuple. */
SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(nt_skb_copy, const struct sk_buff *skb, int len)
{
	__u16 proto = bpf_ntohs(skb->protocol);
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header, th = skb->transport_header;
	struct nt_sock_tuple t = {};
	struct udphdr uh;
	__u64 id;

	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) != 0 || ip.protocol != IPPROTO_UDP_)
			return 0;
		t.family = AF_INET;
		__builtin_memcpy(t.laddr, &ip.daddr, 4);
		__builtin_memcpy(t.raddr, &ip.saddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) != 0 || ip6.nexthdr != IPPROTO_UDP_)
			return 0;
		t.family = AF_INET6;
		__builtin_memcpy(t.laddr, &ip6.daddr, 16);
		__builtin_memcpy(t.raddr, &ip6.saddr, 16);
	} else {
		return 0;
	}
	if (th == (__u16)~0U || bpf_probe_read_kernel(&uh, sizeof(uh), head + th) != 0)
		return 0;
	t.lport = bpf_ntohs(uh.dest);
	t.rport = bpf_ntohs(uh.source);
	t.protocol = IPPROTO_UDP_;
	id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&udp_rx, &id, &t, BPF_ANY);
	return 0;
}

/* A receive whose datagram headers were not seen (the checksum-and-copy path)
 * on an unconnected socket: the peer is read from the caller's sockaddr when
 * the system call returns. */
struct udp_rxsk {
	__u64 sk;
	__u64 cookie;
	__u32 bytes;
	__u32 _pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct udp_rxsk);
} udp_rxsk SEC(".maps");

/* recvfrom/recvmsg in flight: thread -> the user pointer the peer is written to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct udp_dst);
} udp_src SEC(".maps");

SEC("tp_btf/sock_recv_length")
int BPF_PROG(nt_sock_recv, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct nt_sock_tuple *tp = bpf_map_lookup_elem(&udp_rx, &id);
	struct nt_sock_tuple t = {}, bound = {};
	int seen = 0;

	if (tp) {
		__builtin_memcpy(&t, tp, sizeof(t));
		seen = 1;
		bpf_map_delete_elem(&udp_rx, &id);
	}
	if (ret < 0 || !nt_sk_is(sk, IPPROTO_UDP_))
		return 0;
	nt_read_tuple(sk, &bound, IPPROTO_UDP_);
	nt_normalize(&bound);
	if (!seen) {
		if (bound.rport != 0) {
			/* Connected: the socket names its peer. */
			t = bound;
		} else {
			struct udp_rxsk r = { .sk = (__u64)sk, .cookie = bpf_get_socket_cookie(sk), .bytes = ret };
			bpf_map_update_elem(&udp_rxsk, &id, &r, BPF_ANY);
			return 0;
		}
	}
	nt_udp_flow(sk, bpf_get_socket_cookie(sk), &t, ret, NT_SF_UDP_RX, nt_is_zero6(bound.laddr));
	return 0;
}

static __always_inline void nt_recv_enter(__u64 ptr, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct udp_dst d = { .ptr = ptr, .type = type };

	bpf_map_update_elem(&udp_src, &id, &d, BPF_ANY);
}

static __always_inline void nt_recv_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct udp_rxsk *r = bpf_map_lookup_elem(&udp_rxsk, &id);
	struct udp_dst *d = bpf_map_lookup_elem(&udp_src, &id);
	struct nt_sock_tuple t;
	__u32 f = NT_SF_UDP_RX;

	if (r && ret >= 0) {
		const struct sock *sk = (const struct sock *)r->sk;
		nt_read_tuple(sk, &t, IPPROTO_UDP_);
		if (!d || !d->ptr || nt_read_sockaddr(d, &t) != 0)
			f |= NT_SF_RADDR_UNKNOWN;
		nt_udp_flow(sk, r->cookie, &t, r->bytes, f, nt_is_zero6(t.laddr));
	}
	if (r)
		bpf_map_delete_elem(&udp_rxsk, &id);
	if (d)
		bpf_map_delete_elem(&udp_src, &id);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int nt_recvfrom_enter(struct trace_event_raw_sys_enter *ctx)
{
	nt_recv_enter(ctx->args[4], 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int nt_recvmsg_enter(struct trace_event_raw_sys_enter *ctx)
{
	nt_recv_enter(ctx->args[1], 2);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int nt_recvfrom_exit(struct trace_event_raw_sys_exit *ctx)
{
	nt_recv_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int nt_recvmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	nt_recv_exit(ctx->ret);
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
	__u64 key;
	int state;

	if (!task || !file)
		return 0;
	so = bpf_sock_from_file(file);
	if (!so)
		return 0;
	sk = BPF_CORE_READ(so, sk);
	if (!sk || !nt_sk_is(sk, IPPROTO_TCP_))
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_LISTEN_ || state == TCP_CLOSE_)
		return 0;
	key = (__u64)sk;
	e.ts = bpf_ktime_get_boot_ns();
	e.kind = NT_KIND_NONE;
	e.flags = NT_SF_SNAPSHOT | NT_SF_OWNER;
	nt_fill_task(&e.task, task);
	nt_read_tuple(sk, &e.tuple, IPPROTO_TCP_);
	nt_normalize(&e.tuple);
	e.sk = key;
	e.netns = nt_sk_netns(sk);
	e.result = ctx->fd;
	e.oldstate = state;

	st = bpf_map_lookup_elem(&socks, &key);
	if (st) {
		e.cookie = st->cookie;
		if ((st->flags & NT_SF_OWNER) && st->task.pid != e.task.pid) {
			st->flags &= ~NT_SF_OWNER;
			st->flags |= NT_SF_SHARED;
		}
	} else {
		struct nt_sock_state s = {};

		/* 0 if never asked for: then the close carries 0 too and sk joins them. */
		e.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
		s.cookie = e.cookie;
		s.flags = NT_SF_OWNER | NT_SF_ESTABLISHED | ST_CONNECT_EMITTED;
		s.task = e.task;
		if (bpf_map_update_elem(&socks, &key, &s, BPF_NOEXIST) != 0)
			nt_count_loss(NT_KIND_MAP_FULL);
	}
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	return 0;
}
