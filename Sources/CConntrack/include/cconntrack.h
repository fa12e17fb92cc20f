#ifndef CCONNTRACK_H
#define CCONNTRACK_H

/* libnetfilter_conntrack, for the two Netlink uses of the conntrack source:
 * the one-time startup dump, and the `--conntrack-source netlink` fallback.
 * Entries come back as the same nt_ct_event records the BPF program writes
 * (bpf/nettrail.h), so one decoder writes all of them. */
#include <stddef.h>
#include <stdint.h>
#include "cbpfglue.h" /* the ABI (bpf/nettrail.h) comes from there: one module owns it */

typedef void (*nt_ct_sink)(void *ctx, const struct nt_ct_event *e);

/* Dumps the conntrack table (IPv4 and IPv6) of the calling thread's network
 * namespace. Each entry: kind NT_KIND_CT_NEW, flags NT_CT_F_SNAPSHOT, ts and
 * start_ts = `ts`, netns = `netns`. Returns the number of entries or -errno. */
int nt_ct_dump(uint32_t netns, uint64_t ts, nt_ct_sink sink, void *ctx);

/* Netlink NEW/DESTROY event subscription in the calling thread's namespace. */
struct nt_ct_listener;
struct nt_ct_listener *nt_ct_listen(uint32_t netns, int rcvbuf_bytes);
int nt_ct_listener_fd(struct nt_ct_listener *l);
/* Reads what is queued without blocking, calling `sink` for each event
 * (NEW -> NT_KIND_CT_NEW, DESTROY -> NT_KIND_CT_END, flags NT_CT_F_NETLINK,
 * ts = time of reading). Returns events read; adds ENOBUFS overruns to *overruns. */
int nt_ct_listener_read(struct nt_ct_listener *l, nt_ct_sink sink, void *ctx, uint64_t *overruns);
void nt_ct_listener_close(struct nt_ct_listener *l);

/* setns(fd, CLONE_NEWNET) for the calling thread (Glibc's module hides setns). 0 or -errno. */
int nt_setns_net(int fd);

#endif
