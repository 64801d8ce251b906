#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *ikt_name(const char *prefix)
{
    static char buf[8][IK_NAME_MAX + 1];
    static unsigned n;
    char *b = buf[n % 8];
    snprintf(b, sizeof(buf[0]), "%s-%d-%u", prefix, (int)getpid(), n);
    n++;
    return b;
}

static char tmp_root[64];

static void rm_tmp_root(void)
{
    if (tmp_root[0] != '\0' && getpid() == (pid_t)strtol(strrchr(tmp_root, '-') + 1, NULL, 10)) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", tmp_root);
    }
}

const char *ikt_tmpdir(void)
{
    static char dir[128];
    static unsigned n;
    if (tmp_root[0] == '\0') {
        snprintf(tmp_root, sizeof(tmp_root), "/tmp/ikt-%d", (int)getpid());
        if (mkdir(tmp_root, 0700) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", tmp_root, strerror(errno));
        atexit(rm_tmp_root);
    }
    snprintf(dir, sizeof(dir), "%s/d%u", tmp_root, n++);
    if (mkdir(dir, 0700) != 0)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    return dir;
}

void ikt_private_runtime(void)
{
    const char *d = ikt_tmpdir();
    setenv("XDG_RUNTIME_DIR", d, 1);
}

pid_t ikt_fork(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

int ikt_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
    }
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

bool ikt_is_root(void)
{
    return geteuid() == 0;
}

struct nobody_arg {
    int (*fn)(void *);
    void *arg;
};

int ikt_become_nobody(void)
{
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        return 97;
    return geteuid() == 65534 ? 0 : 98;
}

static int nobody_main(void *p)
{
    struct nobody_arg *a = p;
    int rc = ikt_become_nobody();
    return rc != 0 ? rc : a->fn(a->arg);
}

int ikt_private_proc(const char *opts)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", 0, opts) != 0)
        return -errno;
    return 0;
}

int ikt_run_as_nobody(int (*fn)(void *), void *arg)
{
    if (!ikt_is_root())
        return -1;
    struct nobody_arg a = {fn, arg};
    return ikt_wait(ikt_fork(nobody_main, &a));
}

void ikt_gate_init(ikt_gate *g)
{
    if (pipe2(g->fd, O_CLOEXEC) != 0)
        fail_msg("pipe: %s", strerror(errno));
}

void ikt_gate_open(ikt_gate *g)
{
    char c = 1;
    while (write(g->fd[1], &c, 1) < 0 && errno == EINTR)
        ;
}

void ikt_gate_wait(ikt_gate *g)
{
    char c;
    ssize_t r;
    while ((r = read(g->fd[0], &c, 1)) < 0 && errno == EINTR)
        ;
}

void ikt_gate_close(ikt_gate *g)
{
    close(g->fd[0]);
    close(g->fd[1]);
}

const char *ikt_bindir(void)
{
    const char *d = getenv("IK_TEST_BINDIR");
    return d != NULL ? d : ".";
}

const char *ikt_srcdir(void)
{
    const char *d = getenv("IK_TEST_SRCDIR");
    return d != NULL ? d : "..";
}

int ikt_run(char *buf, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(NULL);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        fail_msg("popen %s: %s", cmd, strerror(errno));
    size_t n = 0;
    if (buf != NULL && cap > 0) {
        n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof(sink), f) > 0)
        ;
    int st = pclose(f);
    if (st < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint64_t ikt_fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

void ikt_child_dispatch(int argc, char **argv, const struct ikt_child_role *roles)
{
    if (argc < 3 || strcmp(argv[1], "--child") != 0)
        return;
    for (const struct ikt_child_role *r = roles; r->role != NULL; r++) {
        if (strcmp(r->role, argv[2]) == 0)
            exit(r->fn(argc - 3, argv + 3));
    }
    fprintf(stderr, "unknown child role %s\n", argv[2]);
    exit(99);
}

pid_t ikt_spawn(int keep_fd, const char *role, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = "self";
    argv[n++] = "--child";
    argv[n++] = (char *)role;
    va_list ap;
    va_start(ap, role);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (keep_fd >= 0) {
            int fl = fcntl(keep_fd, F_GETFD);
            fcntl(keep_fd, F_SETFD, fl & ~FD_CLOEXEC);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

pid_t ikt_spawn_ready(const char *role, const char *arg)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        fail_msg("pipe2: %s", strerror(errno));
    char fd[16];
    snprintf(fd, sizeof(fd), "%d", p[1]);
    pid_t pid = ikt_spawn(p[1], role, arg, fd, NULL);
    close(p[1]);
    char c = 0;
    ssize_t r;
    do
        r = read(p[0], &c, 1);
    while (r < 0 && errno == EINTR);
    close(p[0]);
    if (r != 1 || c != 'L')
        fail_msg("%s: child not ready (%d, '%c')", role, (int)r, c ? c : '-');
    return pid;
}

int ikt_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        fail_msg("opendir /proc/self/fd: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

char ikt_proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return '?';
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL ? p[2] : '?';
}
