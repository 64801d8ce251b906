/* Shared helpers for the cmocka test programs. */
#ifndef IK_TEST_HELPERS_H
#define IK_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include "ipckit.h"

/* assert_int_equal that prints IK_E* names on failure. */
#define assert_ik(expected, actual)                                                                \
    do {                                                                                           \
        int ik__e = (expected), ik__a = (actual);                                                  \
        if (ik__e != ik__a)                                                                        \
            fail_msg("%s: expected %s (%d), got %s (%d)", #actual, ik_err_name(ik__e), ik__e,      \
                     ik_err_name(ik__a), ik__a);                                                   \
    } while (0)
#define assert_ok(actual) assert_ik(0, (actual))

/* A name unique to this process and call: "<prefix>-<pid>-<n>". */
const char *ikt_name(const char *prefix);

/* Point XDG_RUNTIME_DIR at a fresh private directory (removed at exit). */
void ikt_private_runtime(void);

/* A fresh private temporary directory path (removed at exit). */
const char *ikt_tmpdir(void);

/* Fork a child running fn(arg); its return value is the exit status. */
pid_t ikt_fork(int (*fn)(void *), void *arg);
/* waitpid and return the exit status (128+sig if killed). */
int ikt_wait(pid_t pid);

/* Fork a child that drops to uid/gid 65534 before running fn(arg) and
 * return its exit status. Returns -1 (test skipped) when not root. */
int ikt_run_as_nobody(int (*fn)(void *), void *arg);
bool ikt_is_root(void);
/* setgroups/setgid/setuid to 65534: 0, or an exit status for the test. */
int ikt_become_nobody(void);
/* In a forked child: a new mount namespace with a fresh /proc mounted with
 * opts (NULL: none), e.g. "hidepid=2", or this pid namespace's own /proc.
 * 0, or -errno (not root: the caller skips). */
int ikt_private_proc(const char *opts);

/* Pipe-based one-shot signalling between processes. */
typedef struct {
    int fd[2];
} ikt_gate;
void ikt_gate_init(ikt_gate *g);
void ikt_gate_open(ikt_gate *g); /* writer side: signal */
void ikt_gate_wait(ikt_gate *g); /* reader side: block until signalled */
void ikt_gate_close(ikt_gate *g);

/* Path to a built binary or source file, from ctest's environment. */
const char *ikt_bindir(void);
const char *ikt_srcdir(void);

/* Run a shell command, capture stdout into buf (NUL-terminated); return the
 * exit status. */
int ikt_run(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Simple checksum for test payloads (FNV-1a 64). */
uint64_t ikt_fnv(const void *p, size_t n);

#endif

/*
 * Re-exec this test binary as a child: argv = {self, "--child", role, args...}.
 * A test's main() calls ikt_child_dispatch(argc, argv, table) first; it runs
 * the matching role and exits with its return value.
 */
typedef int (*ikt_child_fn)(int argc, char **argv);
struct ikt_child_role {
    const char *role;
    ikt_child_fn fn;
};
void ikt_child_dispatch(int argc, char **argv, const struct ikt_child_role *roles);
/* fork + exec self with the role and a NULL-terminated list of arguments.
 * keep_fd (>= 0) stays open in the child at the same number. */
pid_t ikt_spawn(int keep_fd, const char *role, ...);
/* Spawn role with arguments (arg, fd of a ready pipe) and wait until the
 * child writes one byte to that fd; fails the test unless it is 'L'
 * (the child's "listening" signal). */
pid_t ikt_spawn_ready(const char *role, const char *arg);

/* State letter of pid's leader task from /proc/<pid>/stat ('R', 'S', 'Z',
 * ...), '?' if unreadable. */
char ikt_proc_state(pid_t pid);

/* Number of open fds of this process (from /proc/self/fd). */
int ikt_count_fds(void);
