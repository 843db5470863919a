/* sig.c - how a tool stops on a signal. */
#include "config.h"
#include "sig.h"

#include "cli.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

volatile int sig_stop;
volatile int sig_reload;
volatile int sig_checkpoint;

static void on_stop(int sig)
{
	(void)sig;
	sig_stop = 1;
}

static void on_flag(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_checkpoint = 1;
}

static volatile sig_atomic_t drain_signals;

static void on_drain(int sig)
{
	(void)sig;
	if (++drain_signals >= 2)
		_exit(RTAI_EXIT_ABORT);
}

void sig_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_flag;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

void sig_catch_drain(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_drain;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
}
