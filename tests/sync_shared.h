/* Helpers shared by the tests/test_sync_*.c programs (header-only). */
#ifndef IK_TEST_SYNC_SHARED_H
#define IK_TEST_SYNC_SHARED_H

#include "helpers.h"
#include "core/internal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Block until *word >= want (futex, no sleeps); fails the test after 30 s. */
static inline int ikts_wait_ge(_Atomic uint32_t *word, uint32_t want)
{
    uint64_t deadline = ik__now_ns() + 30ull * 1000000000u;
    for (;;) {
        uint32_t v = atomic_load(word);
        if (v >= want)
            return 0;
        if (ik__now_ns() >= deadline)
            return -1;
        (void)ik__futex_wait((uint32_t *)word, v, deadline, true);
    }
}

static inline void ikts_bump(_Atomic uint32_t *word)
{
    atomic_fetch_add(word, 1);
    ik__futex_wake((uint32_t *)word, INT32_MAX, true);
}

/* Is pid asleep in futex(2)? (-1: cannot tell; x86_64 syscall number) */
static inline int ikts_in_futex(pid_t pid)
{
    char path[64], buf[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    bool ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    return atoi(buf) == 202 /* futex */ ? 1 : 0;
}

/* Anonymous shared memory that survives fork. */
static inline void *ikts_anon(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail_msg("mmap failed");
    memset(p, 0, n);
    return p;
}

static inline uint64_t ikts_ms_since(uint64_t t0)
{
    return (ik__now_ns() - t0) / 1000000u;
}

/* With `guard` (an object's internal guard mutex) held here, as by a peer
 * stopped inside a guard section, the exec'd "guarded" child must still end
 * its timed wait on `name` by itself (exit 0). A 20 s bound only turns a
 * hang into a failure; nothing is timed. */
static inline void ikts_expect_guarded_child_exits(pthread_mutex_t *guard, const char *name)
{
    assert_int_equal(pthread_mutex_lock(guard), 0);
    pid_t pid = ikt_spawn(-1, "guarded", name, NULL);
    int st = -1;
    uint64_t t0 = ik__now_ns();
    while (waitpid(pid, &st, WNOHANG) == 0 && ikts_ms_since(t0) < 20000)
        sched_yield();
    bool done = ikts_ms_since(t0) < 20000;
    pthread_mutex_unlock(guard);
    if (!done) {
        ikt_wait(pid);
        fail_msg("timed wait held past its deadline by a busy guard");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

#endif
