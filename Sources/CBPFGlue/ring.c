#include "cbpfglue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>

/* The record header the kernel writes before each record (kernel/bpf/ringbuf.c). */
#define NT_RB_BUSY (1U << 31)
#define NT_RB_DISCARD (1U << 30)
#define NT_RB_HDR 8

int nt_ring_open(struct nt_ring *r, int map_fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *c, *p;

	memset(r, 0, sizeof(*r));
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
		return -errno;
	if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
	    (info.max_entries & (info.max_entries - 1)) != 0)
		return -EINVAL;
	c = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	/* The producer page and the data pages once: the kernel lets a reader map
	 * them twice, back to back, but does not make it. */
	p = mmap(NULL, page + (size_t)info.max_entries, PROT_READ, MAP_SHARED, map_fd, page);
	if (p == MAP_FAILED) {
		int err = -errno;
		munmap(c, page);
		return err;
	}
	r->map_fd = map_fd;
	r->page_size = (uint32_t)page;
	r->size = info.max_entries;
	r->consumer_pos = c;
	r->producer_pos = p;
	r->data = (uint8_t *)p + page;
	return 0;
}

void nt_ring_close(struct nt_ring *r)
{
	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page_size);
	if (r->producer_pos)
		munmap(r->producer_pos, r->page_size + (size_t)r->size);
	free(r->scratch);
	memset(r, 0, sizeof(*r));
}

long nt_ring_consume(struct nt_ring *r, nt_ring_fn fn, void *ctx)
{
	uint64_t mask = r->size - 1;
	uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	long n = 0;

	for (;;) {
		uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		int progressed = 0;

		while (cons < prod) {
			uint64_t off = cons & mask;
			/* Records start 8-aligned and the data area is a power of two of
			 * pages: a header never wraps, a record may. */
			uint32_t hdr = __atomic_load_n((uint32_t *)(r->data + off), __ATOMIC_ACQUIRE);
			uint32_t size = hdr & ~(NT_RB_BUSY | NT_RB_DISCARD);
			uint64_t start = (off + NT_RB_HDR) & mask;

			if (hdr & NT_RB_BUSY)
				goto done;
			cons += (NT_RB_HDR + (uint64_t)size + 7) & ~7ULL;
			progressed = 1;
			if (!(hdr & NT_RB_DISCARD)) {
				if (start + size <= r->size) {
					fn(ctx, r->data + start, size);
				} else {
					uint64_t first = r->size - start;

					if (size > r->scratch_size) {
						uint8_t *s = realloc(r->scratch, size);
						if (!s) {
							r->dropped++;
							goto skip;
						}
						r->scratch = s;
						r->scratch_size = size;
					}
					memcpy(r->scratch, r->data + start, first);
					memcpy(r->scratch + first, r->data, size - first);
					fn(ctx, r->scratch, size);
				}
				n++;
			}
skip:
			__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
		}
		if (!progressed)
			break;
	}
done:
	return n;
}

int nt_ring_set_new(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int nt_ring_set_add(int set, const struct nt_ring *r)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	return epoll_ctl(set, EPOLL_CTL_ADD, r->map_fd, &ev) == 0 ? 0 : -errno;
}

int nt_ring_set_wait(int set, int timeout_ms)
{
	struct epoll_event ev[8];
	int n = epoll_wait(set, ev, 8, timeout_ms);
	return n < 0 ? -errno : n;
}
