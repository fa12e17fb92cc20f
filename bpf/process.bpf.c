// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The process event stream: fork, exec and exit of whole processes, and
 * cgroup creation, removal and attachment, so a container that lived 200 ms
 * can still be named at query time. Two ring buffers: a cgroup storm (a
 * container start touches every v1 hierarchy) cannot starve process events. */
#include "common.bpf.h"

/* Ring sizes: each holds far more than the reader's 20 ms between reads at the
 * source's peak rate (an exec burst: about 1.5 KB an exec record, 5,500 of them
 * here), and every page of a ring is resident in the recorder from the start. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20);
} cgroup_events SEC(".maps");

SEC("tp_btf/sched_process_fork")
int BPF_PROG(nt_fork, struct task_struct *parent, struct task_struct *child)
{
	struct nt_proc_event *e;

	/* A new thread is not a new process. */
	if (child->pid != child->tgid)
		return 0;
	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(NT_KIND_FORK);
		return 0;
	}
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = NT_KIND_FORK;
	e->flags = 0;
	nt_fill_task(&e->task, child);
	e->exit_code = 0;
	e->_pad = 0;
	nt_submit(&proc_events, e);
	return 0;
}

/* An exec record is built here and written to the ring only as long as its
 * argv: a reserved record is always the whole struct, 1,488 bytes, where a
 * typical exec needs a few hundred, and its unused tail would carry whatever
 * the ring held before into the capture. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_exec_event);
} exec_scratch SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(nt_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct nt_exec_event *e;
	unsigned long arg_start, arg_end, len;
	__u32 zero = 0;
	__u64 size;
	long n;

	e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = NT_KIND_EXEC;
	e->flags = 0;
	nt_fill_task(&e->task, p);
	e->old_pid = old_pid;
	if ((__u32)old_pid != e->task.tid)
		e->flags |= NT_F_THREAD_EXEC;

	/* The scratch keeps the previous exec's bytes: none of them may reach this record. */
	__builtin_memset(e->filename, 0, sizeof(e->filename));
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
	if (n <= 0) {
		n = 1;
		e->filename[0] = 0;
	}
	if (n >= NT_FILENAME_MAX)
		e->flags |= NT_F_FILENAME_TRUNCATED;
	e->filename_len = n - 1;

	/* argv is in place in the new mm by the time this tracepoint fires. */
	arg_start = p->mm->arg_start;
	arg_end = p->mm->arg_end;
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > NT_ARGS_MAX) {
		len = NT_ARGS_MAX;
		e->flags |= NT_F_ARGS_TRUNCATED;
	}
	e->args_len = 0;
	if (len > 0 && bpf_probe_read_user(e->args, len, (void *)arg_start) == 0)
		e->args_len = len;
	else if (len > 0)
		e->flags |= NT_F_ARGS_TRUNCATED;
	size = __builtin_offsetof(struct nt_exec_event, args) + (e->args_len & (NT_ARGS_MAX * 2 - 1));
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (!nt_output(&proc_events, e, size))
		nt_count_loss(NT_KIND_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(nt_exit, struct task_struct *p, bool group_dead)
{
	struct nt_proc_event *e;

	/* Only the last thread's exit ends the process. */
	if (!group_dead)
		return 0;
	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(NT_KIND_EXIT);
		return 0;
	}
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = NT_KIND_EXIT;
	e->flags = 0;
	nt_fill_task(&e->task, p);
	e->exit_code = p->exit_code;
	e->_pad = 0;
	nt_submit(&proc_events, e);
	return 0;
}

static __always_inline int nt_cgroup_event(__u32 kind, struct cgroup *cgrp, const char *path,
					   struct task_struct *task)
{
	struct nt_cgroup_event *e;
	long n;

	e = bpf_ringbuf_reserve(&cgroup_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(kind);
		return 0;
	}
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->hierarchy_id = cgrp->root->hierarchy_id;
	e->cgroup_id = cgrp->kn->id;
	e->level = cgrp->level;
	e->pid = task ? task->tgid : 0;
	e->start_ns = task ? task->group_leader->start_boottime : 0;
	e->actor_pid = bpf_get_current_pid_tgid() >> 32;
	e->_pad = 0;
	bpf_get_current_comm(e->actor_comm, sizeof(e->actor_comm));
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	e->path_len = n > 0 ? n - 1 : 0;
	nt_submit(&cgroup_events, e);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(nt_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return nt_cgroup_event(NT_KIND_CGROUP_MKDIR, cgrp, path, 0);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(nt_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	return nt_cgroup_event(NT_KIND_CGROUP_RMDIR, cgrp, path, 0);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(nt_cgroup_attach, struct cgroup *cgrp, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	return nt_cgroup_event(NT_KIND_CGROUP_ATTACH, cgrp, path, task);
}

/* The startup snapshot: one nt_task per live process, with exactly the
 * identity fields the live stream uses (start_ns to the nanosecond, which
 * /proc/PID/stat only gives in 10 ms ticks). */
SEC("iter/task")
int nt_snapshot_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct nt_task t = {};

	if (!task || task->pid != task->tgid)
		return 0;
	nt_fill_task(&t, task);
	bpf_seq_write(ctx->meta->seq, &t, sizeof(t));
	return 0;
}
