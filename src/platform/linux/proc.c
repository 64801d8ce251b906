/* Process identity and liveness from /proc. */
#include "../../core/internal.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A pid without a /proc entry: gone (IK_ESRCH), or hidden (hidepid=2) and
 * running: alive but unverifiable (IK_EPERM). A pidfd needs no permission
 * and tells an exited process (zombie included) by POLLIN; kill(2) is the
 * fallback before Linux 5.3, and sees zombies as alive. */
static int hidden_pid_state(int pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 0);
        close(fd);
        return n > 0 ? IK_ESRCH : IK_EPERM; /* poll failed: cannot tell */
    }
    if (errno == ESRCH)
        return IK_ESRCH;
    if (errno != ENOSYS)
        return IK_EPERM; /* EMFILE ...: cannot tell, so alive */
    return kill(pid, 0) == 0 || errno == EPERM ? IK_EPERM : IK_ESRCH;
}

/* Parse state and start time (field 22) from /proc/<pid>/stat (pid 0:
 * /proc/self/stat, our own entry even when the mounted /proc is an
 * ancestor pid namespace's, where our pid differs from getpid()). The
 * command name (field 2) may contain spaces and ')', so parse after the
 * last ')'. */
static int read_stat(int pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/stat");
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { /* only a missing entry means gone; EMFILE etc. say nothing */
        if (errno != ENOENT && errno != ESRCH)
            return ik__errno();
        /* /proc mounted hidepid=2 hides other users' processes. */
        return pid > 0 ? hidden_pid_state(pid) : IK_ESRCH;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return err == ESRCH ? IK_ESRCH : -err;
    if (n == 0)
        return IK_ESRCH; /* reaped between open and read */
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return IK_ESRCH;
    p += 2;
    *state = *p;
    /* Fields after the state: 4 ppid ... 22 starttime, i.e. 19 more. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return IK_ESRCH;
        p++;
    }
    unsigned long long v = 0;
    if (sscanf(p, "%llu", &v) != 1)
        return IK_ESRCH;
    *start = v;
    return 0;
}

long ik__proc_status_field(int id, const char *key)
{
    char path[64], buf[4096], pat[40];
    snprintf(path, sizeof(path), "/proc/%d/status", id);
    int n = snprintf(pat, sizeof(pat), "\n%s:", key);
    if (id <= 0 || n < 0 || (size_t)n >= sizeof(pat))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    const char *p = strstr(buf, pat);
    long v = 0;
    if (p == NULL || sscanf(p + n, "%ld", &v) != 1)
        return 0;
    return v;
}

/* Threads in pid's thread group, 0 if unknown. */
static long thread_count(int pid)
{
    return ik__proc_status_field(pid, "Threads");
}

int ik__proc_start_time(int pid, uint64_t *start)
{
    char state = 0;
    if (pid <= 0)
        return IK_ESRCH;
    int rc = read_stat(pid, &state, start);
    if (rc != 0)
        return rc;
    if (state == 'X')
        return IK_ESRCH;
    /* A zombie leader whose other threads still run (the main thread called
     * pthread_exit) is a live process; a zombie process has one thread. */
    if (state == 'Z' && thread_count(pid) <= 1)
        return IK_ESRCH;
    return 0;
}

/* Not cached: a forked child in a new pid namespace may get its parent's
 * pid number. Callers on hot paths cache it with a fork reset. */
uint64_t ik__self_start_time(void)
{
    uint64_t s = 0;
    char state;
    if (read_stat(0, &state, &s) != 0)
        s = 0;
    return s;
}

bool ik__proc_alive(int pid, uint64_t start)
{
    uint64_t s;
    int rc = ik__proc_start_time(pid, &s);
    if (rc == IK_ESRCH)
        return false;
    if (rc != 0)
        return true; /* cannot tell (EMFILE, ...): never declare a live process dead */
    return start == 0 || s == start;
}

/* 24 bits of this boot's /proc/sys/kernel/random/boot_id, never 0; 0 when
 * unreadable. Tells a record of this boot from one of a file that outlived
 * a reboot (same pid and start tick are common for early daemons). */
uint32_t ik__boot_tag(void)
{
    static _Atomic uint32_t cached; /* 0: not read yet; ~0u: unreadable */
    uint32_t t = atomic_load_explicit(&cached, memory_order_relaxed);
    if (t != 0)
        return t == ~0u ? 0 : t;
    char buf[64] = "";
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    uint32_t h = 2166136261u; /* FNV-1a over the UUID text */
    for (ssize_t i = 0; i < n && buf[i] != '\n'; i++)
        h = (h ^ (uint8_t)buf[i]) * 16777619u;
    h &= 0xffffffu;
    t = n <= 0 ? ~0u : h == 0 ? 1 : h;
    atomic_store_explicit(&cached, t, memory_order_relaxed);
    return t == ~0u ? 0 : t;
}
