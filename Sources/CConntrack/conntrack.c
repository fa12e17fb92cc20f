#define _GNU_SOURCE
#include "cconntrack.h"

#include <sched.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

static uint64_t boot_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void fill_tuple(struct nt_ct_tuple *t, const struct nf_conntrack *ct, int reply)
{
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	uint8_t l4 = nfct_get_attr_u8(ct, ATTR_L4PROTO);

	memset(t, 0, sizeof(*t));
	t->l3 = l3;
	t->l4 = l4;
	if (l3 == AF_INET) {
		uint32_t s = nfct_get_attr_u32(ct, reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC);
		uint32_t d = nfct_get_attr_u32(ct, reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST);
		memcpy(t->src, &s, 4);
		memcpy(t->dst, &d, 4);
	} else if (l3 == AF_INET6) {
		const void *s = nfct_get_attr(ct, reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC);
		const void *d = nfct_get_attr(ct, reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST);
		if (s) memcpy(t->src, s, 16);
		if (d) memcpy(t->dst, d, 16);
	}
	if (l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6) {
		/* As the kernel tuple holds them: id on the source side, type/code on the destination side. */
		t->sport = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
		if (!reply) {
			t->dport = (uint16_t)(nfct_get_attr_u8(ct, ATTR_ICMP_TYPE) << 8 | nfct_get_attr_u8(ct, ATTR_ICMP_CODE));
		}
	} else {
		t->sport = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC));
		t->dport = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST));
	}
}

static void fill_event(struct nt_ct_event *e, const struct nf_conntrack *ct, uint32_t kind, uint32_t flags,
		       uint64_t ts, uint32_t netns)
{
	memset(e, 0, sizeof(*e));
	e->ts = ts;
	e->kind = kind;
	e->flags = flags;
	e->start_ts = ts;
	e->netns = netns;
	e->status = nfct_get_attr_u32(ct, ATTR_STATUS);
	e->mark = nfct_get_attr_u32(ct, ATTR_MARK);
	e->zone = nfct_get_attr_u16(ct, ATTR_ZONE);
	e->hook = 0xff; /* not seen at a hook */
	if (nfct_get_attr_u8(ct, ATTR_L4PROTO) == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0)
		e->tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
	fill_tuple(&e->orig, ct, 0);
	fill_tuple(&e->reply, ct, 1);
}

struct dump_ctx {
	nt_ct_sink sink;
	void *ctx;
	uint64_t ts;
	uint32_t netns;
	int count;
};

static int dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct dump_ctx *d = data;
	struct nt_ct_event e;

	(void)type;
	fill_event(&e, ct, NT_KIND_CT_NEW, NT_CT_F_SNAPSHOT, d->ts, d->netns);
	d->sink(d->ctx, &e);
	d->count++;
	return NFCT_CB_CONTINUE;
}

int nt_ct_dump(uint32_t netns, uint64_t ts, nt_ct_sink sink, void *ctx)
{
	struct dump_ctx d = { .sink = sink, .ctx = ctx, .ts = ts, .netns = netns, .count = 0 };
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	uint32_t family;
	int err = 0;

	if (!h)
		return -(errno ? errno : EIO);
	nfct_callback_register(h, NFCT_T_ALL, dump_cb, &d);
	/* AF_INET then AF_INET6: one family per dump request, as the kernel answers it. */
	family = AF_INET;
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		err = errno ? errno : EIO;
	family = AF_INET6;
	if (!err && nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		err = errno ? errno : EIO;
	nfct_close(h);
	return err ? -err : d.count;
}

struct nt_ct_listener {
	struct nfct_handle *h;
	uint32_t netns;
	nt_ct_sink sink;
	void *ctx;
	int count;
};

static int event_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct nt_ct_listener *l = data;
	struct nt_ct_event e;
	uint64_t now = boot_ns();

	fill_event(&e, ct, type == NFCT_T_DESTROY ? NT_KIND_CT_END : NT_KIND_CT_NEW, NT_CT_F_NETLINK, now, l->netns);
	e.start_ts = type == NFCT_T_DESTROY ? 0 : now;
	l->sink(l->ctx, &e);
	l->count++;
	return NFCT_CB_CONTINUE;
}

struct nt_ct_listener *nt_ct_listen(uint32_t netns, int rcvbuf_bytes)
{
	struct nt_ct_listener *l = calloc(1, sizeof(*l));
	int fd;

	if (!l)
		return NULL;
	l->netns = netns;
	l->h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_DESTROY);
	if (!l->h) {
		free(l);
		return NULL;
	}
	fd = nfct_fd(l->h);
	if (rcvbuf_bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes, sizeof(rcvbuf_bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(rcvbuf_bytes));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	nfct_callback_register(l->h, NFCT_T_NEW | NFCT_T_DESTROY, event_cb, l);
	return l;
}

int nt_ct_listener_fd(struct nt_ct_listener *l) { return nfct_fd(l->h); }

int nt_ct_listener_read(struct nt_ct_listener *l, nt_ct_sink sink, void *ctx, uint64_t *overruns)
{
	l->sink = sink;
	l->ctx = ctx;
	l->count = 0;
	for (;;) {
		int rc = nfct_catch(l->h);
		if (rc >= 0)
			continue;
		if (errno == ENOBUFS) {
			/* The kernel dropped events for this socket: how many is unknown. */
			*overruns += 1;
			continue;
		}
		break; /* EAGAIN: nothing more queued */
	}
	return l->count;
}

void nt_ct_listener_close(struct nt_ct_listener *l)
{
	if (!l)
		return;
	nfct_close(l->h);
	free(l);
}

int nt_setns_net(int fd)
{
	return setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
}
