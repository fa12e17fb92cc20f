/* Exec burst for bench/resolver-bench.sh: fork+exec PROGRAM N times, one at a
 * time from each of P forkers, and print execs per second. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, p = argc > 2 ? atoi(argv[2]) : 2;
	const char *prog = argc > 3 ? argv[3] : "/bin/true";
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int f = 0; f < p; f++) {
		if (fork() == 0) {
			for (int i = 0; i < n / p; i++) {
				pid_t c = fork();
				if (c == 0) { execl(prog, prog, (char *)0); _exit(127); }
				waitpid(c, 0, 0);
			}
			_exit(0);
		}
	}
	while (wait(0) > 0) ;
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.0f\n", n / s);
	return 0;
}
