/* futex(2) wrappers. */
#include "../../core/internal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int ik__futex_wait(uint32_t *addr, uint32_t val, uint64_t deadline, bool shared)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != UINT64_MAX) {
        ts.tv_sec = (time_t)(deadline / 1000000000u);
        ts.tv_nsec = (long)(deadline % 1000000000u);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. */
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = syscall(SYS_futex, addr, op, val, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0 || errno == EAGAIN)
        return 0;
    if (errno == ETIMEDOUT)
        return IK_ETIMEDOUT;
    if (errno == EINTR)
        return IK_EINTR;
    return ik__errno();
}

void ik__futex_wake(uint32_t *addr, int n, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, addr, op, n, NULL, NULL, 0);
}
