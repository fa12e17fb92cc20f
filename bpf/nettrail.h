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

#define NT_COMM_LEN 16
#define NT_FILENAME_MAX 256
#define NT_ARGS_MAX 1024
#define NT_CGPATH_MAX 512

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
	NT_KIND_MAX = 16,
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

/* EXEC: `filename_len` bytes of filename (no NUL) and `args_len` bytes of
 * NUL-separated argv. */
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

#endif /* NETTRAIL_H */
