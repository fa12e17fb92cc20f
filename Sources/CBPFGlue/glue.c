#include "cbpfglue.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#define NT_LOG_SIZE 16384
static char nt_log[NT_LOG_SIZE];
static size_t nt_log_len;
/* libbpf may print from two threads at once: the recording thread and the
 * resolver's worker (uprobe attaches). */
static pthread_mutex_t nt_log_mutex = PTHREAD_MUTEX_INITIALIZER;

static int nt_log_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	pthread_mutex_lock(&nt_log_mutex);
	/* Keep the most recent text: the verifier's reason is at the end. */
	if (nt_log_len > NT_LOG_SIZE / 2) {
		memmove(nt_log, nt_log + nt_log_len - NT_LOG_SIZE / 4, NT_LOG_SIZE / 4);
		nt_log_len = NT_LOG_SIZE / 4;
	}
	n = vsnprintf(nt_log + nt_log_len, NT_LOG_SIZE - nt_log_len, fmt, args);
	if (n > 0)
		nt_log_len += (size_t)n < NT_LOG_SIZE - nt_log_len ? (size_t)n : NT_LOG_SIZE - nt_log_len - 1;
	pthread_mutex_unlock(&nt_log_mutex);
	return 0;
}

void nt_log_install(void) { libbpf_set_print(nt_log_print); }
void nt_log_reset(void)
{
	pthread_mutex_lock(&nt_log_mutex);
	nt_log_len = 0;
	nt_log[0] = 0;
	pthread_mutex_unlock(&nt_log_mutex);
}
const char *nt_log_text(void) { nt_log[nt_log_len < NT_LOG_SIZE ? nt_log_len : NT_LOG_SIZE - 1] = 0; return nt_log; }

struct bpf_object *nt_object_open_mem(const void *buf, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	return bpf_object__open_mem(buf, size, &opts);
}

/* The netfilter members of union bpf_attr's link_create, as the 6.4+ UAPI
 * lays them out; spelled here so this builds against older headers too. */
struct nt_link_create_nf {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint32_t pf;
	uint32_t hooknum;
	int32_t priority;
	uint32_t nf_flags;
};

int nt_netfilter_link(int prog_fd, uint32_t pf, uint32_t hooknum, int32_t priority, uint32_t flags)
{
	union {
		struct nt_link_create_nf nf;
		char raw[128];
	} attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.nf.prog_fd = (uint32_t)prog_fd;
	attr.nf.attach_type = 45; /* BPF_NETFILTER */
	attr.nf.pf = pf;
	attr.nf.hooknum = hooknum;
	attr.nf.priority = priority;
	attr.nf.nf_flags = flags;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : (int)fd;
}

struct bpf_link *nt_attach_uprobe(const struct bpf_program *prog, const char *path, const char *func,
				  size_t offset, int retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func, .retprobe = retprobe != 0);
	return bpf_program__attach_uprobe_opts(prog, -1, path, func ? 0 : offset, &opts);
}

/* struct open_how and RESOLVE_IN_ROOT as linux/openat2.h defines them. */
struct nt_open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};

int nt_open_in_root(int dirfd, const char *path)
{
	struct nt_open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = 00000000 | 02000000; /* O_RDONLY | O_CLOEXEC */
	how.resolve = 0x10;              /* RESOLVE_IN_ROOT */
	while (*path == '/')
		path++;
	fd = syscall(437 /* __NR_openat2 */, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int nt_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int nt_kernel_struct_id(const char *name)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id;

	if (!vmlinux)
		return -errno;
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_STRUCT);
	btf__free(vmlinux);
	return id;
}

int nt_set_rodata_u32(struct bpf_object *obj, const char *var, uint32_t value)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *map;
	size_t size = 0;
	char *data;
	int id, i;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map) && strstr(bpf_map__name(map), ".rodata"))
			break;
	}
	if (!map)
		return -ENOENT;
	data = bpf_map__initial_value(map, &size);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), var) != 0)
			continue;
		if (!data || vs->size != sizeof(value) || vs->offset + sizeof(value) > size)
			return -EINVAL;
		memcpy(data + vs->offset, &value, sizeof(value));
		return 0;
	}
	return -ENOENT;
}
