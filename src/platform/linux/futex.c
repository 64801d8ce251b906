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

int ik__futex_wake(uint32_t *addr, int n, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long rc = syscall(SYS_futex, addr, op, n, NULL, NULL, 0);
    return rc > 0 ? (int)rc : 0;
}

/* FUTEX_WAKE_OP on one word: apply `op` to it, wake n waiters; the second
 * wake (nr_wake2, passed in the timeout slot) is 0. */
static int wake_op(uint32_t *addr, unsigned op, unsigned arg, int n, bool shared)
{
    int cmd = FUTEX_WAKE_OP | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    unsigned val3 = FUTEX_OP(op, arg, FUTEX_OP_CMP_EQ, 0);
    /* Never retried: wake ops do not sleep, so they do not fail with
     * EINTR, and a retry after an applied op would add twice. */
    long rc = syscall(SYS_futex, addr, cmd, n, (void *)0, addr, val3);
    return rc >= 0 ? (int)rc : ik__errno();
}

int ik__futex_add_wake(uint32_t *addr, unsigned add, int n, bool shared)
{
    return wake_op(addr, FUTEX_OP_ADD, add, n, shared);
}

int ik__futex_clear_wake_all(uint32_t *addr, unsigned bits, bool shared)
{
    return wake_op(addr, FUTEX_OP_ANDN, bits, INT32_MAX, shared);
}
