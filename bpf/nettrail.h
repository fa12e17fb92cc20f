/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI: every record a BPF program writes into a ring buffer, and
 * every value the recorder reads back from a map. The BPF programs and the
 * Swift recorder (through the CBPFGlue module) both include this file, so a
 * layout change breaks the build instead of silently misreading events.
 *
 * Rules: fixed-width types only, explicit padding, every struct a multiple of
 * 8 bytes; variable-length tails (strings) come last and are sized by a
 * length field. Timestamps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns),
 * one clock for every event kind.
 */
#ifndef NETTRAIL_H
#define NETTRAIL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The layout version of every record below. Captures store it with their raw
 * records; an analyzer decodes only the versions it knows and refuses others
 * by name. Any change to a record struct, a kind or a field's meaning bumps it. */
#define NT_ABI_VERSION 3

#define NT_COMM_LEN 16
#define NT_FILENAME_MAX 256
#define NT_ARGS_MAX 1024
#define NT_CGPATH_MAX 512

/* Marks a ring record's struct, after its declaration: bpf/abi.bpf.c defines
 * NT_ABI_LAYOUTS, which makes each mark a global of the type, and so puts every
 * record in the BTF a capture carries (record_btf). */
#ifdef NT_ABI_LAYOUTS
#define NT_RECORD(s) struct s *nt_abi_##s;
#else
#define NT_RECORD(s)
#endif

/* Event kinds; also the index into each object's `losses` per-CPU array. */
enum nt_kind {
	NT_KIND_NONE = 0,
	NT_KIND_FORK = 1,
	NT_KIND_EXEC = 2,
	NT_KIND_EXIT = 3,
	NT_KIND_CGROUP_MKDIR = 4,
	NT_KIND_CGROUP_RMDIR = 5,
	NT_KIND_CGROUP_ATTACH = 6,
	NT_KIND_CT_NEW = 7,      /* a conntrack entry seen new (or re-opened) at a netfilter hook */
	NT_KIND_CT_END = 8,      /* a conntrack entry seen ending (FIN/RST/close) */
	NT_KIND_TCP_CONNECT = 9,
	NT_KIND_TCP_ACCEPT = 10,
	NT_KIND_TCP_CLOSE = 11,
	NT_KIND_UDP_FLOW = 12,
	NT_KIND_DNS = 13,
	NT_KIND_MAP_FULL = 14,   /* a map update failed: the event was not lost, state was */
	NT_KIND_DNS_LIB = 15,    /* a resolver library was mapped while not probed (bpf/resolver.bpf.c) */
	NT_KIND_EXEC_NOTICE = 16, /* an exec, told to the resolver's arming thread only (bpf/resolver.bpf.c) */
	NT_KIND_TCP_SPAN = 17,   /* a TCP connection's open and close in one record (since ABI 3) */
	NT_KIND_MAX = 18,
};

/* Flags on process events. */
#define NT_F_ARGS_TRUNCATED     (1u << 0)
#define NT_F_FILENAME_TRUNCATED (1u << 1)
#define NT_F_THREAD_EXEC        (1u << 2) /* a non-leader thread called execve */

/* Who a task is, read in the task's own context (or from the task_struct the
 * tracepoint hands us). (pid, start_ns) is the identity that survives pid reuse. */
struct nt_task {
	__u64 start_ns;        /* group leader's start_boottime */
	__u64 parent_start_ns; /* real parent's group leader start_boottime */
	__u64 cgroup_id;       /* cgroup v2 (default hierarchy) id = kernfs inode */
	__u64 cgroup_v1_id;    /* memory controller's cgroup id; equals cgroup_id on pure v2 */
	__u32 pid;             /* tgid */
	__u32 tid;
	__u32 ppid;            /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 mntns;
	__u32 netns;
	__u32 pidns;
	char comm[NT_COMM_LEN];
};

/* FORK and EXIT. */
struct nt_proc_event {
	__u64 ts;
	__u32 kind;
	__u32 flags;
	struct nt_task task;
	__u32 exit_code; /* wait status: code << 8 | signal */
	__u32 _pad;
};
NT_RECORD(nt_proc_event)

/* EXEC: `filename_len` bytes of filename (no NUL) and `args_len` bytes of
 * NUL-separated argv. */
/* Written only as far as its argv goes: the record is offsetof(args) + args_len
 * bytes, never more than the struct. */
struct nt_exec_event {
	__u64 ts;
	__u32 kind;
	__u32 flags;
	struct nt_task task;
	__u32 old_pid;
	__u16 filename_len;
	__u16 args_len;
	char filename[NT_FILENAME_MAX];
	char args[NT_ARGS_MAX];
};
NT_RECORD(nt_exec_event)

/* CGROUP_MKDIR / RMDIR / ATTACH: the path is relative to its hierarchy's root. */
struct nt_cgroup_event {
	__u64 ts;
	__u32 kind;
	__u32 hierarchy_id;  /* 0 = cgroup v2 */
	__u64 cgroup_id;
	__u32 level;
	__u32 pid;           /* ATTACH: the task moved (its tgid); 0 otherwise */
	__u64 start_ns;      /* ATTACH: that task's identity */
	__u32 actor_pid;     /* who did it (the tracepoint runs in its context): runc, dockerd... */
	__u16 path_len;
	__u16 _pad;
	char actor_comm[NT_COMM_LEN];
	char path[NT_CGPATH_MAX];
};
NT_RECORD(nt_cgroup_event)

/* ---- conntrack (bpf/conntrack.bpf.c) -------------------------------------
 * CT_NEW: a conntrack entry seen before confirmation, after NAT was decided
 * (POST_ROUTING / LOCAL_IN, priority just below confirm), or a confirmed TCP
 * entry re-opened by a new SYN. CT_END: the entry seen reaching TIME_WAIT or
 * CLOSE through the same hooks (an observed end). */
#define NT_CT_F_REOPEN    (1u << 0) /* NEW: a confirmed TCP entry re-opened by a SYN */
#define NT_CT_F_SNAPSHOT  (1u << 1) /* userspace: from the startup dump, not seen new */
#define NT_CT_F_NETLINK   (1u << 2) /* userspace: from Netlink events (fallback source) */
#define NT_CT_F_RST       (1u << 3) /* END: the packet that ended it carried RST */

struct nt_ct_tuple {
	__u8 src[16];   /* IPv4: first 4 bytes, network order; IPv6: 16 bytes */
	__u8 dst[16];
	__u16 sport;    /* host order; ICMP: the id */
	__u16 dport;    /* host order; ICMP: type << 8 | code */
	__u8 l3;        /* AF_INET (2) or AF_INET6 (10) */
	__u8 l4;        /* IPPROTO_* */
	__u16 _pad;
};

struct nt_ct_event {
	__u64 ts;
	__u32 kind;       /* NT_KIND_CT_NEW / NT_KIND_CT_END */
	__u32 flags;      /* NT_CT_F_* */
	__u64 start_ts;   /* ts of the NEW (or re-open) this event belongs to */
	__u64 cgroup_id;  /* cgroup v2 id of skb->sk's owner when it is a full local socket */
	__u32 netns;      /* inode of the namespace the hook ran in */
	__u32 status;     /* IPS_* bits at that moment */
	__u32 mark;
	__u16 zone;
	__u8 hook;        /* NF_INET_* */
	__u8 tcp_state;   /* TCP_CONNTRACK_* after this packet; 0 if not TCP */
	struct nt_ct_tuple orig;
	struct nt_ct_tuple reply;
};
NT_RECORD(nt_ct_event)
/* ---- end conntrack ---- */

/* ---- sockets (bpf/sockets.bpf.c) -------------------------------------- */

/* Both ends of a socket as the host sees them. Addresses in network order;
 * IPv4 uses the first 4 bytes. Ports in host order. */
struct nt_sock_tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;   /* AF_INET / AF_INET6 */
	__u8 protocol;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 _pad;
};

/* Flags on socket events. */
#define NT_SF_OWNER       (1u << 0) /* `task` was read in the owner's own context (connect, first use after accept, send/recv) */
#define NT_SF_NO_STATE    (1u << 1) /* no per-socket state: predates the recorder, or the map was full */
#define NT_SF_LADDR_ANY   (1u << 2) /* UDP: socket bound to the wildcard address */
#define NT_SF_RADDR_UNKNOWN (1u << 3) /* UDP: destination not readable (e.g. sendmmsg) */
#define NT_SF_NOT_SYSCALL (1u << 4) /* not set: every CONNECT is written when SYN_SENT ends (see nt_tcp_event) */
#define NT_SF_UDP_RX      (1u << 5) /* UDP flow first seen receiving (else sending) */
#define NT_SF_ESTABLISHED (1u << 6) /* CLOSE: the socket reached ESTABLISHED */
#define NT_SF_SNAPSHOT    (1u << 7) /* a TCP socket open at start (iterator record, kind 0): one per (process, socket) */
#define NT_SF_SHARED      (1u << 8) /* the socket was open in several processes at start: no single owner */

/* TCP_CONNECT: written when the socket leaves SYN_SENT (established, refused,
 * timed out, closed), the first moment its tuple is whole; the owner was read
 * at SYN_SENT, inside connect() (or a fastopen sendmsg, an io_uring connect).
 * TCP_ACCEPT: written when an accepted socket is first worked by a task from a
 * system call (a send, a receive, close() or shutdown()), with that task, read
 * there. TCP_CLOSE (any context: the owner comes from per-socket state
 * recorded earlier in the owner's context). */
struct nt_tcp_event {
	__u64 ts;
	__u32 kind;
	__u32 flags;
	struct nt_task task;        /* zero unless NT_SF_OWNER */
	struct nt_sock_tuple tuple;
	__u64 cookie;               /* socket cookie: joins CONNECT/ACCEPT with CLOSE */
	__u64 sk;                   /* kernel address; a join key of last resort */
	__u64 start_ts;             /* SYN_SENT (active) or SYN_RECV (passive) time; 0 = unknown */
	__u64 bytes_acked;          /* CLOSE: bytes sent and acknowledged */
	__u64 bytes_received;       /* CLOSE */
	__u32 netns;                /* the socket's network namespace inode */
	__s32 result;               /* CONNECT: 0 = established, else -errno of the failure (sk_err), -1 if none was set
	                             * (closed while connecting); ACCEPT: 0 (the fd is not known there) */
	__u32 total_retrans;        /* CLOSE */
	__u32 oldstate;             /* CLOSE: the state the socket left for TCP_CLOSE */
};
NT_RECORD(nt_tcp_event)

/* TCP_SPAN: a connection whose open (the CONNECT or ACCEPT it would have
 * written) was still unwritten when it closed: the close, and the open as it
 * would have been written. An open is written on its own only when the
 * recorder, about once a second and when it stops, finds it still unwritten,
 * so a connection open then is in the capture. */
struct nt_tcp_span {
	struct nt_tcp_event close;  /* close.kind = NT_KIND_TCP_SPAN */
	__u64 open_ts;
	__u32 open_kind;            /* NT_KIND_TCP_CONNECT or NT_KIND_TCP_ACCEPT */
	__u32 open_flags;           /* the open's flags (NT_SF_OWNER, NT_SF_NO_STATE) */
	__s32 open_result;          /* CONNECT's result */
	__u32 _pad;
};
NT_RECORD(nt_tcp_span)

/* The owner recorded in process context, kept per socket until TCP_CLOSE,
 * and the open not yet written (see nt_tcp_span). */
struct nt_sock_state {
	__u64 start_ts;
	__u64 cookie;
	__u32 flags;                /* NT_SF_OWNER once an owner is known; NT_SF_ESTABLISHED */
	__u32 _pad;
	struct nt_task task;
	__u64 open_ts;
	__u32 open_kind;
	__u32 open_flags;
	__s32 open_result;
	__u32 open_pending;         /* 1 while the open may still be in pending_opens (bpf/sockets.bpf.c) */
};

/* UDP_FLOW: the first datagram of a flow (5-tuple + netns + process). */
struct nt_udp_event {
	__u64 ts;
	__u32 kind;
	__u32 flags;
	struct nt_task task;
	struct nt_sock_tuple tuple;
	__u64 cookie;
	__u32 netns;
	__u32 bytes;                /* that first datagram's payload */
};
NT_RECORD(nt_udp_event)

/* Key and value of the `udp_flows` LRU map; the recorder reads it to end
 * flows after inactivity. */
struct nt_udp_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 _pad;
	__u32 netns;
	__u32 pid;
	__u64 start_ns;
};

struct nt_udp_val {
	__u64 first_ts;
	__u64 last_ts;
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 rx_packets;
};

/* ---- resolver (bpf/resolver.bpf.c) ---------------------------------------
 * DNS: one call of getaddrinfo / gethostbyname / gethostbyname2 in a probed
 * resolver library (glibc or musl), written at its return in the caller's
 * context: the name asked and up to NT_DNS_ADDRS_MAX distinct addresses.
 * DNS_LIB: an executable mapping of a file that looks like a resolver library
 * (libc.*, libc-*, ld-musl*) that was not armed: the recorder arms it late,
 * or records a miss. Library keys use the kernel's dev_t (major << 20 | minor)
 * and the inode of the file actually mapped (under overlayfs: the real file). */
#define NT_DNS_NAME_MAX 256
#define NT_DNS_ADDRS_MAX 16
#define NT_DNS_F_NAME_TRUNCATED  (1u << 0)
#define NT_DNS_F_ADDRS_TRUNCATED (1u << 1) /* more results than were kept */
#define NT_DNS_F_NAME_UNREADABLE (1u << 2)

enum nt_dns_func {
	NT_DNS_GETADDRINFO = 1,
	NT_DNS_GETHOSTBYNAME = 2,
	NT_DNS_GETHOSTBYNAME2 = 3,
};

struct nt_dns_addr {
	__u16 family;   /* AF_INET / AF_INET6 */
	__u16 _pad[3];
	__u8 addr[16];  /* network order; IPv4 in the first 4 bytes */
};

struct nt_dns_event {
	__u64 ts;        /* the return */
	__u32 kind;      /* NT_KIND_DNS */
	__u32 flags;     /* NT_DNS_F_* */
	struct nt_task task;
	__u64 call_ts;   /* the entry */
	__s32 rc;        /* getaddrinfo: its return (0, EAI_*); gethostbyname*: 0 = hostent, -1 = NULL */
	__u16 func;      /* enum nt_dns_func */
	__u16 naddrs;
	__u16 name_len;
	__u16 _pad[3];
	struct nt_dns_addr addrs[NT_DNS_ADDRS_MAX];
	char name[NT_DNS_NAME_MAX];
};
NT_RECORD(nt_dns_event)

struct nt_lib_key {
	__u64 dev;
	__u64 ino;
};

/* Value of the `armed` map: NT_LIB_ARMED, or NT_LIB_REFUSED (the recorder
 * would not or could not probe it); `maps` counts executable mappings that
 * were checked after the file was armed (a mapping of a file armed before the
 * mmap is not checked at all). */
#define NT_LIB_ARMED   1
#define NT_LIB_REFUSED 2
struct nt_lib_state {
	__u32 state;
	__u32 _pad;
	__u64 maps;
};

#define NT_LIB_HOW_MMAP   1 /* mmap() by the process (the dynamic loader) */
#define NT_LIB_HOW_INTERP 2 /* the ELF interpreter, mapped by execve (musl's libc) */
#define NT_LIB_NAME_MAX 64
struct nt_lib_event {
	__u64 ts;
	__u32 kind;      /* NT_KIND_DNS_LIB */
	__u32 how;       /* NT_LIB_HOW_* */
	struct nt_task task;
	struct nt_lib_key key;
	__u64 vm_start;
	__u64 vm_end;
	char name[NT_LIB_NAME_MAX]; /* the file's own name (not the path) */
};
NT_RECORD(nt_lib_event)

/* The recorder's own mapping of a candidate file, so it learns the key the
 * kernel will see (overlayfs reports another inode to stat()). */
struct nt_self_probe {
	__u64 addr;
	struct nt_lib_key key;
};
/* An exec, as the resolver's arming thread needs it (its own ring,
 * `exec_notices`, read by that thread alone, so arming never waits behind other
 * sources' records): which process to look at, and when. Not a timeline row. */
/* The pair arming depends on: the process's root and its executable (kernel
 * object addresses, only ever compared). Key of the `notice_keys` map. */
struct nt_notice_key {
	__u64 root_mnt;
	__u64 root_dentry;
	__u64 exe;       /* the executable's inode (its PT_INTERP says which libc) */
};
struct nt_exec_notice {
	__u64 ts;        /* the exec (boot ns) */
	__u32 kind;      /* NT_KIND_EXEC_NOTICE */
	__u32 pid;       /* tgid */
	__u64 start_ns;  /* group leader's start_boottime */
	struct nt_notice_key key; /* given back in `notice_keys` once the pair is settled */
};
NT_RECORD(nt_exec_notice)
/* ---- end resolver ---- */

#endif /* NETTRAIL_H */
