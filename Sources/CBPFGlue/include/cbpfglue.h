#ifndef CBPFGLUE_H
#define CBPFGLUE_H

#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <nettrail_abi.h>

/* libbpf prints loader and verifier diagnostics through a callback; we keep
 * the tail of it so an error can say which program failed and why. */
void nt_log_install(void);
void nt_log_reset(void);
const char *nt_log_text(void);

/* bpf_object__open_mem with an object name (LIBBPF_OPTS is a macro Swift cannot use). */
struct bpf_object *nt_object_open_mem(const void *buf, size_t size, const char *name);

/* BPF_LINK_CREATE for BPF_NETFILTER, which libbpf 1.1 does not know. Returns
 * a link fd or -errno. */
int nt_netfilter_link(int prog_fd, uint32_t pf, uint32_t hooknum, int32_t priority, uint32_t flags);

/* The kernel's BTF id of the struct named exactly `name` (CO-RE would also take
 * its flavors, e.g. nf_conn___init for nf_conn), or -errno. */
int nt_kernel_struct_id(const char *name);

/* Sets the read-only global `var` (a 32-bit value in .rodata) of an object
 * opened and not yet loaded: the verifier then knows it as a constant. 0 or -errno. */
int nt_set_rodata_u32(struct bpf_object *obj, const char *var, uint32_t value);

/* Resolver probes (Sources/Recorder/Resolver.swift): a uprobe (or uretprobe)
 * on `func` (or, when func is NULL, at file offset `offset`) in the ELF file at
 * `path`, for every process. NULL + errno on failure. */
struct bpf_link *nt_attach_uprobe(const struct bpf_program *prog, const char *path, const char *func,
				  size_t offset, int retprobe);

/* openat2(dirfd, path, O_RDONLY|O_CLOEXEC, RESOLVE_IN_ROOT): absolute symlinks
 * resolve inside dirfd (a container's root), never the host's. fd or -errno. */
int nt_open_in_root(int dirfd, const char *path);

/* A BPF ring buffer read through one mapping of its data pages (ring.c).
 * libbpf's ring_buffer maps them twice, back to back, so that a record that
 * wraps reads as one piece; every page of both mappings is resident from mmap
 * on, so each ring would count twice in the recorder's resident size. Here a
 * record that wraps is copied into `scratch` instead (records are a few KB). */
struct nt_ring {
	int map_fd;
	uint32_t page_size;
	uint64_t size;              /* of the data area: a power of two */
	uint64_t *consumer_pos;     /* the reader's page, writable */
	uint64_t *producer_pos;     /* the first page of the read-only mapping */
	uint8_t *data;
	uint8_t *scratch;
	size_t scratch_size;
	uint64_t dropped;           /* wrapped records no scratch could be had for: lost, and counted */
};
typedef void (*nt_ring_fn)(void *ctx, const void *data, size_t size);
/* 0 or -errno. */
int nt_ring_open(struct nt_ring *r, int map_fd);
void nt_ring_close(struct nt_ring *r);
/* Hands every committed record to fn in order, freeing its space as it goes;
 * stops at the first record still being written. Returns how many it handed.
 * A wrapped record is valid only during its call. */
long nt_ring_consume(struct nt_ring *r, nt_ring_fn fn, void *ctx);
/* An epoll set of rings: each is readable while it holds a record (and wakes a
 * waiter when its producer asks). Each returns -errno on failure; wait returns
 * how many rings are readable. */
int nt_ring_set_new(void);
int nt_ring_set_add(int set, const struct nt_ring *r);
int nt_ring_set_wait(int set, int timeout_ms);

/* A non-blocking, close-on-exec eventfd (a thread's wakeup besides its ring), or -errno. */
int nt_eventfd(void);

#endif
