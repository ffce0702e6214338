/*
 * failpoint.c - the failure points of a test build (see failpoint.h).
 * An ordinary build compiles this file to nothing.
 */
#include "failpoint.h"

#ifdef KVM_FAILPOINTS

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum action { ACT_NONE, ACT_ERROR, ACT_KILL, ACT_STOP };

/* Read once from the environment; then only @hits changes. */
static struct {
	pthread_once_t once;
	pthread_mutex_t mu;
	char name[128];
	unsigned long nth;
	enum action act;
	unsigned long hits;
	int log_fd;
} fp = { PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, "", 1, ACT_NONE, 0, -1 };

static void parse(void)
{
	const char *spec = getenv("KVMIGRATE_FAILPOINT");
	const char *log = getenv("KVMIGRATE_FAILPOINT_LOG");
	const char *eq, *at;
	size_t n;

	if (log != NULL && log[0] != '\0')
		fp.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (spec == NULL || (eq = strrchr(spec, '=')) == NULL)
		return;
	at = memchr(spec, '@', (size_t)(eq - spec));
	n = (size_t)((at != NULL ? at : eq) - spec);
	if (n == 0 || n >= sizeof(fp.name))
		return;
	memcpy(fp.name, spec, n);
	fp.name[n] = '\0';
	if (at != NULL && (fp.nth = strtoul(at + 1, NULL, 10)) == 0)
		fp.nth = 1;
	fp.act = strcmp(eq + 1, "error") == 0 ? ACT_ERROR
	       : strcmp(eq + 1, "kill") == 0 ? ACT_KILL
	       : strcmp(eq + 1, "stop") == 0 ? ACT_STOP : ACT_NONE;
}

int kvm_failpoint(const char *name, struct kvm_error *err)
{
	enum action act = ACT_NONE;

	pthread_once(&fp.once, parse);
	if (fp.log_fd >= 0) {
		char line[160];
		int n = snprintf(line, sizeof(line), "%s\n", name);

		if (n > 0 && (size_t)n < sizeof(line))
			(void)!write(fp.log_fd, line, (size_t)n);
	}
	if (fp.act == ACT_NONE || strcmp(name, fp.name) != 0)
		return 0;
	pthread_mutex_lock(&fp.mu);
	if (++fp.hits == fp.nth)
		act = fp.act;
	pthread_mutex_unlock(&fp.mu);
	switch (act) {
	case ACT_KILL:
		kill(getpid(), SIGKILL);
		pause();
		break;
	case ACT_STOP:
		kill(getpid(), SIGSTOP);
		break;
	case ACT_ERROR:
		return kvm_error_set(err, EIO, "injected failure at '%s'", name);
	default:
		break;
	}
	return 0;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int kvm_failpoint_unused;

#endif
