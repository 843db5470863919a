/* sig.c - how a tool stops on a signal. */
#include "config.h"
#include "sig.h"

#include <signal.h>
#include <string.h>

volatile int sig_stop;

static void on_stop(int sig)
{
	(void)sig;
	sig_stop = 1;
}

void sig_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
