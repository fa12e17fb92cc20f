// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What name did a process resolve? Uprobes on the resolver library's
 * getaddrinfo / gethostbyname / gethostbyname2 (glibc and musl), attached by
 * the recorder once per library file (Sources/Recorder/Resolver.swift),
 * driven by exec events. The entry probe keeps the arguments per thread; the
 * return probe writes one DNS event with the name and the addresses returned.
 *
 * Nothing silently unprobed: every executable mapping of a file that looks
 * like a resolver library is checked against the `armed` map (after mmap() for
 * libraries the dynamic loader maps, and at exec for the ELF interpreter,
 * which for musl is libc itself); one that is not armed is reported as a
 * DNS_LIB event, so the recorder arms it late or records a miss.
 *
 * The mmap() check uses no syscall tracepoint (attaching one slows every
 * system call on the host): vm_unmapped_area gives the address a file mapping
 * will get, and the task's next mmap_lock acquisition (mmap_lock_start_locking,
 * before it locks, so bpf_find_vma can) looks at what is mapped there. A
 * loader maps a library's whole span first and its text over it with
 * MAP_FIXED, so the text is the mapping that follows the first one; the
 * check waits for it over a few lock acquisitions. */
#include "common.bpf.h"

#define AF_INET_ 2
#define AF_INET6_ 10
#define VM_EXEC_ 0x4UL
/* Walk at most this many addrinfo entries (glibc returns one per socket type). */
#define NT_GAI_WALK 48

/* 1 MiB: over a thousand lookups, far more than a host resolves between two reads. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

/* Execs for the recorder's arming thread (struct nt_exec_notice), which alone
 * reads this ring: the exec rows of the process source wait behind every other
 * record the recording thread reads, and a short-lived process can be gone by then. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} exec_notices SEC(".maps");

/* A resolver call in flight, per thread. */
struct call {
	__u64 name;   /* user pointer to the name */
	__u64 res;    /* getaddrinfo: struct addrinfo **res */
	__u64 ts;
	__u32 depth;  /* musl's gethostbyname calls gethostbyname2: report the outer call */
	__u32 func;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct call);
} calls SEC(".maps");

/* Library files the recorder has probed (or refused), by (dev, inode). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct nt_lib_key);
	__type(value, struct nt_lib_state);
} armed SEC(".maps");

/* [0] = the recorder's tgid; its own mappings land in self_probe. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} resolver_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_self_probe);
} self_probe SEC(".maps");

/* ---- the resolver calls ---- */

static __always_inline int call_enter(__u32 func, const void *name, void *res)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &tid);
	struct call n = {};

	if (c) {
		c->depth += 1;
		return 0;
	}
	n.name = (__u64)name;
	n.res = (__u64)res;
	n.ts = bpf_ktime_get_boot_ns();
	n.depth = 1;
	n.func = func;
	if (bpf_map_update_elem(&calls, &tid, &n, BPF_NOEXIST) != 0)
		nt_count_loss(NT_KIND_MAP_FULL);
	return 0;
}

/* Takes the thread's call if this return ends it (depth 1). */
static __always_inline int call_leave(struct call *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &tid);

	if (!c)
		return 0;
	if (c->depth > 1) {
		c->depth -= 1;
		return 0;
	}
	*out = *c;
	bpf_map_delete_elem(&calls, &tid);
	return 1;
}

static __always_inline struct nt_dns_event *event_start(struct call *c, long rc)
{
	struct nt_dns_event *e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	long n;

	if (!e) {
		nt_count_loss(NT_KIND_DNS);
		return 0;
	}
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = NT_KIND_DNS;
	e->flags = 0;
	nt_fill_task(&e->task, bpf_get_current_task_btf());
	e->call_ts = c->ts;
	e->rc = (__s32)rc;
	e->func = c->func;
	e->naddrs = 0;
	e->_pad[0] = e->_pad[1] = e->_pad[2] = 0;
	n = bpf_probe_read_user_str(e->name, sizeof(e->name), (const void *)c->name);
	if (n <= 0) {
		n = 1;
		e->name[0] = 0;
		if (c->name)
			e->flags |= NT_DNS_F_NAME_UNREADABLE;
	}
	if (n >= NT_DNS_NAME_MAX)
		e->flags |= NT_DNS_F_NAME_TRUNCATED;
	e->name_len = n - 1;
	return e;
}

/* Appends an address unless it repeats the previous one (glibc lists each
 * address once per socket type, consecutively); `last` is that previous one. */
static __always_inline void add_addr(struct nt_dns_event *e, struct nt_dns_addr *last,
				     __u16 family, const void *src)
{
	__u32 i = e->naddrs;
	struct nt_dns_addr a = {};
	__u32 len = family == AF_INET6_ ? 16 : 4;

	a.family = family;
	if (bpf_probe_read_user(a.addr, len & 31, src) != 0)
		return;
	if (i > 0 && last->family == a.family && __builtin_memcmp(last->addr, a.addr, 16) == 0)
		return;
	if (i >= NT_DNS_ADDRS_MAX) {
		e->flags |= NT_DNS_F_ADDRS_TRUNCATED;
		return;
	}
	*last = a;
	i &= NT_DNS_ADDRS_MAX - 1;
	barrier_var(i);
	if (i < NT_DNS_ADDRS_MAX)
		e->addrs[i] = a;
	e->naddrs = (i + 1) & 0xff;
}

/* The public struct addrinfo (same layout in glibc and musl on 64-bit). */
struct u_addrinfo {
	int ai_flags;
	int ai_family;
	int ai_socktype;
	int ai_protocol;
	__u32 ai_addrlen;
	__u32 _pad;
	__u64 ai_addr;
	__u64 ai_canonname;
	__u64 ai_next;
};

SEC("uprobe")
int BPF_KPROBE(nt_gai_enter, const char *node, const char *service, const void *hints, void **res)
{
	return call_enter(NT_DNS_GETADDRINFO, node, res);
}

/* The addrinfo walk, one entry a call of bpf_loop: a bounded loop is verified
 * iteration by iteration through every branch of add_addr (2.7 s for this one
 * program on a loaded host, most of a start-up); a bpf_loop body is verified
 * as one. */
struct gai_walk {
	struct nt_dns_event *e;
	struct nt_dns_addr last;
	__u64 ai;
};

static long gai_walk_one(__u64 index, void *data)
{
	struct gai_walk *w = data;
	struct nt_dns_event *e = w->e;
	struct u_addrinfo a;
	__u16 family = 0;

	if (!w->ai || !e)
		return 1;
	if (bpf_probe_read_user(&a, sizeof(a), (const void *)w->ai) != 0)
		return 1;
	if (a.ai_addr && bpf_probe_read_user(&family, sizeof(family), (const void *)a.ai_addr) == 0) {
		if (family == AF_INET_)
			add_addr(e, &w->last, family, (const void *)(a.ai_addr + 4));   /* sin_addr */
		else if (family == AF_INET6_)
			add_addr(e, &w->last, family, (const void *)(a.ai_addr + 8));   /* sin6_addr */
	}
	w->ai = a.ai_next;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nt_gai_return, long rc)
{
	struct call c;
	struct gai_walk w = {};

	if (!call_leave(&c))
		return 0;
	w.e = event_start(&c, (int)rc);
	if (!w.e)
		return 0;
	if ((int)rc == 0 && c.res)
		bpf_probe_read_user(&w.ai, sizeof(w.ai), (const void *)c.res);
	bpf_loop(NT_GAI_WALK, gai_walk_one, &w, 0);
	if (w.ai)
		w.e->flags |= NT_DNS_F_ADDRS_TRUNCATED;
	nt_submit(&dns_events, w.e);
	return 0;
}

/* struct hostent: h_name, h_aliases, h_addrtype, h_length, h_addr_list. */
struct u_hostent {
	__u64 h_name;
	__u64 h_aliases;
	int h_addrtype;
	int h_length;
	__u64 h_addr_list;
};

static __always_inline int hostent_return(__u64 ret)
{
	struct call c;
	struct nt_dns_event *e;
	struct u_hostent h = {};
	struct nt_dns_addr last = {};
	int i;

	if (!call_leave(&c))
		return 0;
	e = event_start(&c, ret ? 0 : -1);
	if (!e)
		return 0;
	if (ret && bpf_probe_read_user(&h, sizeof(h), (const void *)ret) == 0 && h.h_addr_list
	    && (h.h_addrtype == AF_INET_ || h.h_addrtype == AF_INET6_)) {
		for (i = 0; i <= NT_DNS_ADDRS_MAX; i++) {
			__u64 p = 0;

			if (bpf_probe_read_user(&p, sizeof(p), (const void *)(h.h_addr_list + 8 * i)) != 0 || !p)
				break;
			if (i == NT_DNS_ADDRS_MAX) {
				e->flags |= NT_DNS_F_ADDRS_TRUNCATED;
				break;
			}
			add_addr(e, &last, h.h_addrtype, (const void *)p);
		}
	}
	nt_submit(&dns_events, e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nt_ghbn_enter, const char *name)
{
	return call_enter(NT_DNS_GETHOSTBYNAME, name, 0);
}

SEC("uprobe")
int BPF_KPROBE(nt_ghbn2_enter, const char *name)
{
	return call_enter(NT_DNS_GETHOSTBYNAME2, name, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(nt_ghbn_return, long ret)
{
	return hostent_return((__u64)ret);
}

/* ---- unprobed resolver libraries ---- */

struct vma_ctx {
	__u32 how;
	__u32 self;
	__u64 addr;
	/* filled by check_vma for the caller */
	__u64 vm_end;
	struct nt_lib_key key;
	__u32 verdict;
	__u32 _pad;
};

/* What check_vma found */
#define V_DONE     0 /* checked (armed, reported) or nothing to check */
#define V_NOT_EXEC 1 /* an unarmed resolver-like file, this part not executable: look further */
#define V_OTHER    2 /* another file than the one looked further for */

/* A mapping whose check waits for the task's next mmap_lock acquisition. */
struct lib_pending {
	__u64 addr;
	__u32 tries;
	__u32 self;
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lib_pending);
} lib_pending SEC(".maps");

/* [0] = how many tasks have a check waiting (never less: a task that exits
 * with one keeps it counted, which costs only speed). Every mmap_lock
 * acquisition on the host runs nt_lib_mmap; this lets nearly all of them
 * return at once. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} lib_waiting SEC(".maps");

static __always_inline void waiting_add(__s64 d)
{
	__u32 zero = 0;
	__s64 *w = bpf_map_lookup_elem(&lib_waiting, &zero);

	if (w)
		__sync_fetch_and_add(w, d);
}

static __always_inline int resolver_like(const char *n)
{
	/* libc.so.6, libc-2.31.so, libc.musl-x86_64.so.1, libc.so (musl), ld-musl-*.so.1 */
	if (n[0] == 'l' && n[1] == 'i' && n[2] == 'b' && n[3] == 'c' && (n[4] == '.' || n[4] == '-'))
		return 1;
	if (n[0] == 'l' && n[1] == 'd' && n[2] == '-' && n[3] == 'm' && n[4] == 'u' && n[5] == 's' && n[6] == 'l')
		return 1;
	return 0;
}

static long check_vma(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_ctx *vc = data;
	struct file *f = vma->vm_file;
	struct nt_lib_key key = {};
	struct nt_lib_state *st;
	struct nt_lib_event *e;
	char name[NT_LIB_NAME_MAX];
	const unsigned char *dn;

	vc->verdict = V_DONE;
	if (!f) {
		vc->verdict = vc->key.ino ? V_OTHER : V_DONE;
		return 0;
	}
	key.dev = f->f_inode->i_sb->s_dev;
	key.ino = f->f_inode->i_ino;
	if (vc->self) {
		__u32 zero = 0;
		struct nt_self_probe *sp = bpf_map_lookup_elem(&self_probe, &zero);
		if (sp) {
			sp->addr = vc->addr;
			sp->key = key;
		}
		return 0;
	}
	st = bpf_map_lookup_elem(&armed, &key);
	if (st) {
		if (vma->vm_flags & VM_EXEC_)
			__sync_fetch_and_add(&st->maps, 1);
		return 0;
	}
	if (vc->key.ino && (vc->key.ino != key.ino || vc->key.dev != key.dev)) {
		vc->verdict = V_OTHER;
		return 0;
	}
	dn = f->f_path.dentry->d_name.name;
	__builtin_memset(name, 0, sizeof(name));
	if (bpf_probe_read_kernel_str(name, sizeof(name), dn) <= 0 || !resolver_like(name))
		return 0;
	if (!(vma->vm_flags & VM_EXEC_)) {
		vc->verdict = V_NOT_EXEC;
		vc->vm_end = vma->vm_end;
		vc->key = key;
		return 0;
	}
	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		nt_count_loss(NT_KIND_DNS_LIB);
		return 0;
	}
	e->ts = bpf_ktime_get_boot_ns();
	e->kind = NT_KIND_DNS_LIB;
	e->how = vc->how;
	nt_fill_task(&e->task, task);
	e->key = key;
	e->vm_start = vma->vm_start;
	e->vm_end = vma->vm_end;
	__builtin_memcpy(e->name, name, sizeof(name));
	/* The recorder pins the mapping while the process lives: wake it now. */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

static __always_inline int is_self(void)
{
	__u32 zero = 0;
	__u32 *self = bpf_map_lookup_elem(&resolver_cfg, &zero);

	return self && *self && *self == (__u32)(bpf_get_current_pid_tgid() >> 32);
}

#define NR_MMAP_ 9          /* x86-64 */
#define MAP_ANONYMOUS_ 0x20

/* Where an mmap() call by a task (not execve: the interpreter is checked at
 * exec, below) of a resolver-like file, or any mapping by the recorder itself,
 * is about to go. The file is the call's fd argument; its name is the filter,
 * so other mappings cost one look at the name. */
SEC("tp_btf/vm_unmapped_area")
int BPF_PROG(nt_lib_area, unsigned long addr, struct vm_unmapped_area_info *info)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct lib_pending *p;
	struct nt_lib_key key = {};
	int self = is_self();

	if (addr >= (unsigned long)-4095 || BPF_CORE_READ_BITFIELD(task, in_execve))
		return 0;
	if (!self) {
		struct file *f = 0;
		struct file **fds;
		char name[8] = {};
		long fd;

		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (!regs || regs->orig_ax != NR_MMAP_ || (regs->r10 & MAP_ANONYMOUS_))
			return 0;
		fd = (long)regs->r8;
		if (fd < 0 || fd >= task->files->fdt->max_fds)
			return 0;
		fds = task->files->fdt->fd;
		if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
			return 0;
		if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) <= 0 ||
		    !resolver_like(name))
			return 0;
		/* Armed (or refused) already: the check would find nothing to report, and
		 * with none waiting every mmap_lock acquisition on the host returns at once. */
		key.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
		key.ino = BPF_CORE_READ(f, f_inode, i_ino);
		if (bpf_map_lookup_elem(&armed, &key))
			return 0;
	}
	p = bpf_task_storage_get(&lib_pending, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	if (!p->tries)
		waiting_add(1);
	p->addr = addr;
	p->tries = 4;
	p->self = self;
	return 0;
}

SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(nt_lib_mmap, struct mm_struct *mm, bool write)
{
	struct task_struct *task;
	struct lib_pending *p;
	struct vma_ctx vc = { .how = NT_LIB_HOW_MMAP };
	__u32 zero = 0;
	__s64 *w = bpf_map_lookup_elem(&lib_waiting, &zero);

	if (!w || *w <= 0)
		return 0;
	task = bpf_get_current_task_btf();
	p = bpf_task_storage_get(&lib_pending, task, 0, 0);
	if (!p || !p->tries)
		return 0;
	if (!task->mm) {
		/* Exiting: nothing left to look at. */
		p->tries = 0;
		waiting_add(-1);
		return 0;
	}
	if (mm != task->mm)
		return 0;
	vc.self = p->self;
	vc.addr = p->addr;
	if (bpf_find_vma(task, vc.addr, check_vma, &vc, 0) != 0) {
		/* Not mapped yet (this acquisition may be the mmap's own) or the lock is busy. */
		p->tries -= 1;
	} else if (vc.verdict == V_NOT_EXEC) {
		/* The whole span, or its first part: the text follows it once mapped. */
		__u64 next = vc.vm_end;

		vc.verdict = V_OTHER;
		bpf_find_vma(task, next, check_vma, &vc, 0);
		p->tries = vc.verdict == V_DONE ? 0 : p->tries - 1;
	} else {
		p->tries = 0;
	}
	if (!p->tries)
		waiting_add(-1);
	return 0;
}

/* Other notices wake the arming thread once 64 wait (each is 56 bytes in the
 * ring): the thread acts on up to 64 before it takes its next job, so a batch
 * is never left behind by the final flush. */
#define NOTICE_BATCH_BYTES (64 * 56)

/* (root, executable) pairs seen at exec. The value is 0 once a pair has woken
 * the arming thread, and the boot time until which the pair is settled once
 * that thread has written it back: every library the pair's loader can map is
 * armed or refused, so its execs need no notice and no interpreter check
 * (the mmap() check above still runs for every mapping of an unarmed file). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nt_notice_key);
	__type(value, __u64);
} notice_keys SEC(".maps");

/* At exec: a notice for the arming thread, and a look at the ELF interpreter
 * the kernel has mapped (the new program's first instruction is in it, or in
 * the binary when static): musl's interpreter is its libc, which no mmap()
 * maps. Both are skipped for a settled pair, which is nearly every exec of a
 * busy host: the notice would cost the arming thread a /proc lookup per exec. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(nt_exec_notice, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vma_ctx vc = { .how = NT_LIB_HOW_INTERP };
	struct nt_notice_key k = {};
	struct nt_exec_notice *n;
	struct pt_regs *regs;
	__u64 now = bpf_ktime_get_boot_ns(), zero = 0, wake, *until;

	k.root_mnt = (__u64)p->fs->root.mnt;
	k.root_dentry = (__u64)p->fs->root.dentry;
	k.exe = (__u64)bprm->file->f_inode;
	until = bpf_map_lookup_elem(&notice_keys, &k);
	if (until && now < *until)
		return 0;

	n = bpf_ringbuf_reserve(&exec_notices, sizeof(*n), 0);
	if (!n) {
		nt_count_loss(NT_KIND_EXEC_NOTICE);
	} else {
		n->ts = now;
		n->kind = NT_KIND_EXEC_NOTICE;
		n->pid = p->tgid;
		n->start_ns = p->group_leader->start_boottime;
		n->key = k;
		/* Arming has to start while a short-lived process still runs: the first
		 * exec of a pair wakes the thread at once (a wakeup costs the exec about
		 * 20 us here, an IPI); the rest wait for a batch or its next wakeup. */
		if (!until) {
			wake = BPF_RB_FORCE_WAKEUP;
			bpf_map_update_elem(&notice_keys, &k, &zero, BPF_NOEXIST);
		} else {
			wake = bpf_ringbuf_query(&exec_notices, BPF_RB_AVAIL_DATA) >= NOTICE_BATCH_BYTES
				? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
		}
		bpf_ringbuf_submit(n, wake);
	}

	regs = (struct pt_regs *)bpf_task_pt_regs(p);
	if (!regs)
		return 0;
	vc.addr = BPF_CORE_READ(regs, ip);
	bpf_find_vma(p, vc.addr, check_vma, &vc, 0);
	return 0;
}
