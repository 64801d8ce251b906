/* The abstract-socket name a fifo:// listener holds while it lives. */
#include "internal.h"

#include <stdio.h>

int ik__fifo_lock_name(const char *up_path, unsigned uid, char *buf, size_t cap)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (const char *p = up_path; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    int n = snprintf(buf, cap, "ipckit-fifo-%u-%016llx", uid, (unsigned long long)h);
    return (n < 0 || (size_t)n >= cap) ? IK_ENAMETOOLONG : n;
}
