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

static __always_inline __u64 nt_cgroup_v1_id(struct task_struct *task)
{
	struct css_set *cs = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = 0;
	int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (!cs || idx < 0 || idx >= 16)
		return 0;
	bpf_core_read(&css, sizeof(css), &cs->subsys[idx]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

static __always_inline void nt_fill_task(struct nt_task *t, struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct pid *tp = BPF_CORE_READ(task, thread_pid);
	struct pid_namespace *pns = 0;
	unsigned int level = BPF_CORE_READ(tp, level);

	t->pid = BPF_CORE_READ(task, tgid);
	t->tid = BPF_CORE_READ(task, pid);
	t->start_ns = BPF_CORE_READ(leader, start_boottime);
	t->ppid = BPF_CORE_READ(parent, tgid);
	t->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	t->uid = BPF_CORE_READ(task, cred, uid.val);
	t->gid = BPF_CORE_READ(task, cred, gid.val);
	t->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	t->cgroup_v1_id = nt_cgroup_v1_id(task);
	t->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	t->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	if (tp && level < 32) {
		bpf_core_read(&pns, sizeof(pns), &tp->numbers[level].ns);
		if (pns)
			t->pidns = BPF_CORE_READ(pns, ns.inum);
	}
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

#endif
