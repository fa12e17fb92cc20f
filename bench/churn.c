#define _GNU_SOURCE
/* Short TCP connections for bench/kernel-cost.sh, without an interpreter in
 * the way (Python clients hide the cost being measured).
 *
 *   churn server PORT            epoll; per connection: read 4 bytes, write 1,
 *                                close once the client has closed
 *   churn client SRC DST PORT N  N connections one after another (SRC: the
 *                                source address, unused: the route picks it):
 *                                write 4 bytes, read 1, close (the client
 *                                closes first); prints connections per second
 *   churn getppid N              N getppid() calls; prints ns per call
 *   churn burst N P              N fork+exec of /bin/true from P forkers, one
 *                                at a time each; prints execs/s, how many
 *                                ran (a failed fork is retried, not counted)
 *                                and the CPU time (user + system) the whole
 *                                tree used per exec in us: unlike the rate,
 *                                it does not move with what else runs
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int server(int port)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	int ep = epoll_create1(0);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4096)) {
		perror("bind/listen");
		return 1;
	}
	ev.data.fd = l;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == l) {
				int c;
				while ((c = accept4(l, 0, 0, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
				}
				continue;
			}
			char buf[64];
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				if (write(fd, "k", 1) < 0) {
					close(fd);
				}
			} else if (r == 0 || errno != EAGAIN) {
				close(fd);
			}
		}
	}
}

static int client(const char *src, const char *dst, int port, long n)
{
	struct sockaddr_in s = { .sin_family = AF_INET }, d = { .sin_family = AF_INET, .sin_port = htons(port) };
	double t0 = now();
	long done = 0;

	inet_pton(AF_INET, src, &s.sin_addr);
	inet_pton(AF_INET, dst, &d.sin_addr);
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char b;
		uint32_t seq = htonl(i);
		if (connect(fd, (struct sockaddr *)&d, sizeof(d))) {
			close(fd);
			continue;
		}
		if (write(fd, &seq, 4) == 4 && read(fd, &b, 1) == 1)
			done++;
		close(fd);
	}
	printf("%.0f\n", done / (now() - t0));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]));
	if (argc >= 6 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
	if (argc >= 3 && !strcmp(argv[1], "getppid")) {
		long n = atol(argv[2]);
		double t0 = now();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%.1f\n", (now() - t0) * 1e9 / n);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "burst")) {
		long n = atol(argv[2]);
		int p = atoi(argv[3]), fds[2];
		double t0 = now();
		long ran = 0;

		if (pipe(fds))
			return 1;
		for (int f = 0; f < p; f++) {
			if (fork() == 0) {
				long ok = 0;
				for (long i = 0; i < n / p;) {
					pid_t c = fork();
					int st;
					if (c < 0) {
						usleep(1000);
						continue;
					}
					if (c == 0) {
						execl("/bin/true", "/bin/true", (char *)0);
						_exit(127);
					}
					i++;
					if (waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
						ok++;
				}
				if (write(fds[1], &ok, sizeof(ok)) != sizeof(ok))
					_exit(1);
				_exit(0);
			}
		}
		for (int f = 0; f < p; f++) {
			long ok = 0;
			if (read(fds[0], &ok, sizeof(ok)) == sizeof(ok))
				ran += ok;
		}
		while (wait(0) > 0)
			;
		double rate = n / (now() - t0);
		struct rusage ru;
		getrusage(RUSAGE_CHILDREN, &ru);
		double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
		printf("%.0f %ld %.1f\n", rate, ran, cpu * 1e6 / n);
		return 0;
	}
	fprintf(stderr, "usage: churn server PORT | client SRC DST PORT N | getppid N | burst N P\n");
	return 2;
}
