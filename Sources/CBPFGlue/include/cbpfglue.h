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

/* Resolver probes (Sources/Recorder/Resolver.swift): a uprobe (or uretprobe)
 * on `func` (or, when func is NULL, at file offset `offset`) in the ELF file at
 * `path`, for every process. NULL + errno on failure. */
struct bpf_link *nt_attach_uprobe(const struct bpf_program *prog, const char *path, const char *func,
				  size_t offset, int retprobe);

/* openat2(dirfd, path, O_RDONLY|O_CLOEXEC, RESOLVE_IN_ROOT): absolute symlinks
 * resolve inside dirfd (a container's root), never the host's. fd or -errno. */
int nt_open_in_root(int dirfd, const char *path);

/* A non-blocking, close-on-exec eventfd (a thread's wakeup besides its ring), or -errno. */
int nt_eventfd(void);

#endif
