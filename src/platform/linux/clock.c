/* Monotonic time and deadlines. */
#include "../../core/internal.h"

#include <time.h>

uint64_t ik__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ik__deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return UINT64_MAX;
    return ik__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int ik__ms_left(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    uint64_t now = ik__now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}
