// Attribution workloads: short TCP connections whose owner each side can name.
//
//   attr-workload server PORT LOG           accept forever; per connection log
//                                           "accept_boot_ns peer_ip peer_port pid seq lport"
//                                           (the client's host pid, sequence number and own
//                                           source port, read from its first 10 bytes), reply
//                                           1 byte, close once the client has reset
//   attr-workload churn DST PORT N PAR PROC N connections by forked children (no exec), at most
//                                           PAR at a time; PROC is the host's procfs (for the
//                                           host pid inside a pid namespace)
//   attr-workload conn TAG DST PORT PROC    one connection; TAG (a number) is its sequence number
//   attr-workload reuse DST PORT PROC GAPMS two execs of "conn" by the same pid, GAPMS apart
//                                           (the pid is forced through ns_last_pid)
//
// A client keeps its connection until the server's reply has arrived, so the server's
// accept time lies inside the client's connection; it then resets the connection
// (SO_LINGER 0), so no TIME_WAIT holds its source port and tuples are reused at once.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t boot_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t host_pid(const char *proc) {
	char path[256], buf[32];
	snprintf(path, sizeof path, "%s/self", proc);
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	if (n <= 0) { perror("readlink"); _exit(2); }
	buf[n] = 0;
	return (uint32_t)strtoul(buf, NULL, 10);
}

static int full_read(int fd, void *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r <= 0) return -1;
		got += (size_t)r;
	}
	return 0;
}

static int server(int port, const char *log) {
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) { perror("bind/listen"); return 1; }
	FILE *out = fopen(log, "w");
	if (!out) { perror(log); return 1; }
	setvbuf(out, NULL, _IOLBF, 0);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof peer;
		int c = accept(ls, (struct sockaddr *)&peer, &len);
		if (c < 0) continue;
		uint64_t t = boot_ns();
		unsigned char msg[10];
		if (full_read(c, msg, sizeof msg) == 0) {
			uint32_t pid, seq;
			uint16_t lport;
			memcpy(&pid, msg, 4); memcpy(&seq, msg + 4, 4); memcpy(&lport, msg + 8, 2);
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
			fprintf(out, "%llu %s %u %u %u %u\n", (unsigned long long)t, ip, ntohs(peer.sin_port), pid, seq, lport);
			(void)!write(c, "k", 1);
			char b;
			while (read(c, &b, 1) > 0) {}
		}
		close(c);
	}
}

/// One connection; retries while the source port range is exhausted.
static int conn(const char *dst, int port, uint32_t seq, const char *proc) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, dst, &a.sin_addr);
	for (int attempt = 0; attempt < 2000; attempt++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
			struct sockaddr_in me;
			socklen_t len = sizeof me;
			getsockname(s, (struct sockaddr *)&me, &len);
			unsigned char msg[10];
			uint32_t pid = host_pid(proc);
			uint16_t lport = ntohs(me.sin_port);
			memcpy(msg, &pid, 4); memcpy(msg + 4, &seq, 4); memcpy(msg + 8, &lport, 2);
			char b;
			if (write(s, msg, sizeof msg) != sizeof msg || read(s, &b, 1) != 1) return 3;
			struct linger l = {1, 0};
			setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
			close(s);
			return 0;
		}
		int e = errno;
		close(s);
		if (e != EADDRNOTAVAIL && e != EADDRINUSE) { perror("connect"); return 4; }
		usleep(200);
	}
	return 5;
}

static int churn(const char *dst, int port, int n, int par, const char *proc) {
	int running = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		if (running >= par) {
			int st;
			if (wait(&st) > 0) { running--; failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0); }
		}
		pid_t p = fork();
		if (p == 0) _exit(conn(dst, port, (uint32_t)i, proc));
		if (p > 0) running++;
	}
	int st;
	while (wait(&st) > 0) failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (failed) fprintf(stderr, "churn: %d connections failed\n", failed);
	return failed ? 1 : 0;
}

static void exec_conn(const char *self, const char *tag, const char *dst, const char *port, const char *proc) {
	execl(self, self, "conn", tag, dst, port, proc, (char *)NULL);
	_exit(127);
}

static int reuse(const char *self, const char *dst, const char *port, const char *proc, int gap_ms) {
	pid_t first = fork();
	if (first == 0) exec_conn(self, "1", dst, port, proc);
	int st;
	waitpid(first, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
	uint64_t due = boot_ns() + (uint64_t)gap_ms * 1000000ull;
	// Another fork on the host may take the pid first: retry, as CRIU does.
	int f = open("/proc/sys/kernel/ns_last_pid", O_RDWR);
	if (f < 0) { perror("ns_last_pid"); return 1; }
	for (int attempt = 0; attempt < 500; attempt++) {
		while (boot_ns() < due) usleep(100);
		flock(f, LOCK_EX);
		char buf[32];
		int len = snprintf(buf, sizeof buf, "%d", first - 1);
		(void)!pwrite(f, buf, len, 0);
		pid_t p = fork();
		if (p == 0) {
			if (getpid() == first) exec_conn(self, "2", dst, port, proc);
			_exit(3);
		}
		flock(f, LOCK_UN);
		waitpid(p, &st, 0);
		if (p == first) return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
	fprintf(stderr, "reuse: could not get pid %d again\n", first);
	return 1;
}

int main(int argc, char **argv) {
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "server")) return server(atoi(argv[2]), argv[3]);
	if (argc == 7 && !strcmp(argv[1], "churn")) return churn(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
	if (argc == 6 && !strcmp(argv[1], "conn")) return conn(argv[3], atoi(argv[4]), (uint32_t)atoi(argv[2]), argv[5]);
	if (argc == 6 && !strcmp(argv[1], "reuse")) return reuse(argv[0], argv[2], argv[3], argv[4], atoi(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of attr-workload.c\n");
	return 2;
}
