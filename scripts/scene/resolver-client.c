/* Test workload for the resolver probes: resolve names with getaddrinfo
 * (and gethostbyname2 with -g), connect to each first address on PORT, exit.
 * Usage: resolver-client [-g] [-n] PORT NAME...   (-n: NAME is a numeric
 * address, connected to without calling the resolver at all)
 * Prints: "<pid> <elapsed_us> <name> <addr> <local_port>" per name. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	long long t0 = now_us();
	int ghbn = 0, numeric = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-g")) ghbn = 1;
		else if (!strcmp(argv[i], "-n")) numeric = 1;
	}
	if (i >= argc) return 2;
	int port = atoi(argv[i++]);
	for (; i < argc; i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		memset(&ss, 0, sizeof(ss));
		if (numeric) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			if (inet_pton(AF_INET, argv[i], &s4->sin_addr) == 1) { s4->sin_family = AF_INET; len = sizeof(*s4); }
			else if (inet_pton(AF_INET6, argv[i], &s6->sin6_addr) == 1) { s6->sin6_family = AF_INET6; len = sizeof(*s6); }
			else return 3;
		} else if (ghbn) {
			struct hostent *h = gethostbyname2(argv[i], AF_INET);
			if (!h) return 4;
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, h->h_addr_list[0], 4);
			len = sizeof(*s4);
		} else {
			struct addrinfo hints, *res;
			memset(&hints, 0, sizeof(hints));
			hints.ai_socktype = SOCK_STREAM;
			if (getaddrinfo(argv[i], NULL, &hints, &res) != 0) return 5;
			memcpy(&ss, res->ai_addr, res->ai_addrlen);
			len = res->ai_addrlen;
			freeaddrinfo(res);
		}
		((struct sockaddr_in *)&ss)->sin_port = htons(port); /* same offset in sockaddr_in6 */
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);
		int rc = connect(fd, (struct sockaddr *)&ss, len);
		struct sockaddr_storage l;
		socklen_t ll = sizeof(l);
		getsockname(fd, (struct sockaddr *)&l, &ll);
		char a[64];
		inet_ntop(ss.ss_family, ss.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
			  : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		printf("%d %lld %s %s %d %d\n", getpid(), now_us() - t0, argv[i], a,
		       ntohs(((struct sockaddr_in *)&l)->sin_port), rc);
		close(fd);
	}
	return 0;
}
