/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel-side helpers shared by every nettrail BPF object (no event structs
 * here: those live in nettrail.h, the one ABI header). */
#ifndef NETTRAIL_COMMON_BPF_H
#define NETTRAIL_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "nettrail.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Every failed ring-buffer reservation, per CPU and per event kind. The
 * recorder sums the CPUs and writes the deltas into the timeline. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline void nt_count_loss(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&losses, &kind);
	if (v)
		*v += 1;
}

/* Ring records wake the reader only once this share of the ring waits (1/64):
 * a wakeup per record costs the recorder a context switch per event under
 * load, and it polls every ring at least every 100 ms regardless. */
static __always_inline __u64 nt_wakeup(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= (bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) >> 6)
		? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void nt_submit(void *ring, void *e)
{
	bpf_ringbuf_submit(e, nt_wakeup(ring));
}

/* As nt_submit, for a record built elsewhere (a per-CPU scratch) and copied
 * into the ring at the length it has: false if the ring had no room. */
static __always_inline bool nt_output(void *ring, void *e, __u64 size)
{
	return bpf_ringbuf_output(ring, e, size, nt_wakeup(ring)) == 0;
}

/* The task readers below are plain loads through BTF pointers, which the
 * verifier turns into fault-safe loads: they run for every event, and a
 * bpf_probe_read_kernel call per field costs more than the rest of it.
 *
 * They load through an untrusted copy of the task pointer (bpf_rdonly_cast):
 * for every load through a trusted pointer the verifier looks up up to four
 * "<type>__safe_*" names by a linear scan of the kernel's BTF: half of a
 * start-up's CPU otherwise (perf: btf_find_by_name_kind under
 * btf_nested_type_is_trusted). The loads are the same fault-safe ones. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct task_struct *nt_untrusted(struct task_struct *task)
{
	return bpf_rdonly_cast(task, bpf_core_type_id_kernel(struct task_struct));
}
static __always_inline __u64 nt_cgroup_v1_id(struct task_struct *task)
{
	int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css;

	if (idx < 0 || idx >= 16)
		return 0;
	css = task->cgroups->subsys[idx];
	if (!css)
		return 0;
	return css->cgroup->kn->id;
}

static __always_inline void nt_fill_task(struct nt_task *t, struct task_struct *trusted)
{
	struct task_struct *task = nt_untrusted(trusted);
	struct task_struct *parent = task->real_parent;
	const struct cred *cred = task->cred;
	struct nsproxy *nsp = task->nsproxy;
	struct pid *tp = task->thread_pid;
	struct pid_namespace *pns = 0;
	unsigned int level = tp->level;

	t->pid = task->tgid;
	t->tid = task->pid;
	t->start_ns = task->group_leader->start_boottime;
	t->ppid = parent->tgid;
	t->parent_start_ns = parent->group_leader->start_boottime;
	t->uid = cred->uid.val;
	t->gid = cred->gid.val;
	t->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	t->cgroup_v1_id = nt_cgroup_v1_id(task);
	/* An exiting task has no nsproxy: the fault-safe loads read 0 through NULL. */
	t->mntns = nsp->mnt_ns->ns.inum;
	t->netns = nsp->net_ns->ns.inum;
	t->pidns = 0;
	/* numbers[] is indexed by the pid's level: a variable offset, which only a helper may read. */
	if (tp && level < 32) {
		bpf_core_read(&pns, sizeof(pns), &tp->numbers[level].ns);
		if (pns)
			t->pidns = BPF_CORE_READ(pns, ns.inum);
	}
	__builtin_memcpy(t->comm, task->comm, NT_COMM_LEN);
}

#ifdef NT_TASK_CACHE
/* The current task's nt_task, kept with what it was read from. Every field
 * comes from an object the kernel replaces rather than edits (creds, nsproxy,
 * css_set, struct pid, the parent and leader task_structs) or from the task
 * itself (ids, comm): a copy whose pointers, ids and comm still match is what
 * a fresh read would give, at a few loads from the task's own cache lines
 * instead of a chain of them through cold ones. */
struct nt_task_cache {
	__u64 parent;
	__u64 leader;
	__u64 cred;
	__u64 nsproxy;
	__u64 cgroups;
	__u64 thread_pid;
	struct nt_task t;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_task_cache);
} task_cache SEC(".maps");

static __always_inline void nt_fill_current(struct nt_task *t)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct nt_task_cache *c = bpf_task_storage_get(&task_cache, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct task_struct *task = nt_untrusted(current);
	__u64 *comm = (__u64 *)task->comm;

	if (!c) {
		nt_fill_task(t, current);
		return;
	}
	if (c->parent == (__u64)task->real_parent && c->leader == (__u64)task->group_leader &&
	    c->cred == (__u64)task->cred && c->nsproxy == (__u64)task->nsproxy &&
	    c->cgroups == (__u64)task->cgroups && c->thread_pid == (__u64)task->thread_pid &&
	    c->t.pid == task->tgid && c->t.tid == task->pid &&
	    *(__u64 *)c->t.comm == comm[0] && *(__u64 *)(c->t.comm + 8) == comm[1] && c->t.start_ns) {
		*t = c->t;
		return;
	}
	nt_fill_task(t, current);
	c->parent = (__u64)task->real_parent;
	c->leader = (__u64)task->group_leader;
	c->cred = (__u64)task->cred;
	c->nsproxy = (__u64)task->nsproxy;
	c->cgroups = (__u64)task->cgroups;
	c->thread_pid = (__u64)task->thread_pid;
	c->t = *t;
}
#endif

#endif
