/* sig.c - how a tool stops on a signal (the table is in sig.h). */
#include "config.h"
#include "sig.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

volatile int sig_stop;
volatile int sig_draining;
volatile int sig_reload;
volatile int sig_checkpoint;

static volatile sig_atomic_t is_source;
static volatile sig_atomic_t nint;

static void on_stop(int sig)
{
	if (sig == SIGINT && ++nint >= 2)
		_exit(RTAI_EXIT_ABORT);
	if (is_source)
		sig_stop = 1;
	else
		sig_draining = 1;
}

static void on_flag(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_checkpoint = 1;
}

void sig_set_source(int source)
{
	is_source = source != 0;
}

void sig_from_operands(int argc, char *const argv[])
{
	if (argc <= 0)
		return;
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "-") == 0)
			return;
	is_source = 1;
}

void sig_catch_stop(void)
{
	struct sigaction sa;
	struct stat st;

	is_source = !(fstat(STDIN_FILENO, &st) == 0 &&
		      (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_flag;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}
