/* Error model, names, permissions and the runtime directory. */
#include "helpers.h"
#include "core/internal.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    int code;
    const char *name;
} all_codes[] = {
#define XX(name, value, msg) {IK_##name, "IK_" #name},
    IK_ERRNO_MAP(XX)
#undef XX
};

static void test_every_code_has_text_and_name(void **state)
{
    for (size_t i = 0; i < sizeof(all_codes) / sizeof(all_codes[0]); i++) {
        int c = all_codes[i].code;
        assert_true(c < 0);
        assert_string_equal(ik_err_name(c), all_codes[i].name);
        assert_string_not_equal(ik_strerror(c), "unknown error");
        /* Codes are unique. */
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(all_codes[j].code, c);
    }
    assert_string_equal(ik_err_name(-3999999), "IK_UNKNOWN");
    assert_string_equal(ik_strerror(-3999999), "unknown error");
    assert_string_equal(ik_strerror(0), "success");
}

static void test_code_values(void **state)
{
    /* -errno where an errno fits, own codes below -4000. */
    assert_int_equal(IK_EINVAL, -EINVAL);
    assert_int_equal(IK_ETIMEDOUT, -ETIMEDOUT);
    assert_int_equal(IK_EAGAIN, -EAGAIN);
    const int own[] = {IK_EOWNERDEAD, IK_ENOTRECOVERABLE, IK_EPEERDEAD, IK_EDEADLK,
                       IK_EMSGSIZE,   IK_EPROTO,          IK_EAUTH,     IK_ECLOSED,
                       IK_EBADNAME,   IK_EPERM_OWNER};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        assert_true(own[i] < -4000);
}

static void test_names(void **state)
{
    assert_ok(ik_name_check("a"));
    assert_ok(ik_name_check("Job_queue-1.v2"));
    char max[IK_NAME_MAX + 2];
    memset(max, 'x', IK_NAME_MAX);
    max[IK_NAME_MAX] = '\0';
    assert_ok(ik_name_check(max));
    max[IK_NAME_MAX] = 'x';
    max[IK_NAME_MAX + 1] = '\0';
    assert_ik(IK_EBADNAME, ik_name_check(max)); /* 65 characters */
    const char *bad[] = {"",       ".",     "..",   ".hidden",     "a/b", "/abs", "../up", "a..b/c",
                         "sp ace", "t\tab", "nl\n", "uni\xc3\xa9", "a*",  "a:b",  "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ik_name_check(bad[i]) != IK_EBADNAME)
            fail_msg("name \"%s\" was accepted", bad[i]);
    }
    assert_ik(IK_EBADNAME, ik_name_check(NULL));
}

static void test_runtime_dir_created_private(void **state)
{
    ikt_private_runtime();
    char path[PATH_MAX];
    assert_ok(ik_runtime_dir(path, sizeof(path)));
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/ipckit", getenv("XDG_RUNTIME_DIR"));
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    /* Second call reuses it. */
    assert_ok(ik_runtime_dir(path, sizeof(path)));
    /* Too small a buffer. */
    char small[4];
    assert_ik(IK_ENAMETOOLONG, ik_runtime_dir(small, sizeof(small)));
}

static void test_runtime_dir_symlink_refused(void **state)
{
    const char *base = ikt_tmpdir();
    const char *target = ikt_tmpdir();
    char link[PATH_MAX];
    snprintf(link, sizeof(link), "%s/ipckit", base);
    chmod(target, 0700);
    assert_int_equal(symlink(target, link), 0);
    setenv("XDG_RUNTIME_DIR", base, 1);
    char path[PATH_MAX];
    assert_ik(IK_EUNSAFE, ik_runtime_dir(path, sizeof(path)));
}

static void test_runtime_dir_bad_mode_refused(void **state)
{
    const char *base = ikt_tmpdir();
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/ipckit", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    setenv("XDG_RUNTIME_DIR", base, 1);
    char path[PATH_MAX];
    assert_ik(IK_EUNSAFE, ik_runtime_dir(path, sizeof(path)));
}

/* An $XDG_RUNTIME_DIR that is not private (0755 here; another user's, kept
 * by sudo -E) is ignored: /tmp/ipckit-<euid> is used instead. */
static void test_runtime_dir_xdg_not_private_ignored(void **state)
{
    const char *base = ikt_tmpdir();
    assert_int_equal(chmod(base, 0755), 0);
    setenv("XDG_RUNTIME_DIR", base, 1);
    char path[PATH_MAX], want[64];
    assert_ok(ik_runtime_dir(path, sizeof(path)));
    snprintf(want, sizeof(want), "/tmp/ipckit-%u", (unsigned)geteuid());
    assert_string_equal(path, want);
    char inside[PATH_MAX];
    snprintf(inside, sizeof(inside), "%s/ipckit", base);
    struct stat st;
    assert_int_equal(lstat(inside, &st), -1); /* nothing made inside it */
    ikt_private_runtime();
}

static void test_runtime_dir_other_owner_refused(void **state)
{
    if (!ikt_is_root())
        skip();
    const char *base = ikt_tmpdir();
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/ipckit", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, 65534, 65534), 0); /* squatted by another uid */
    setenv("XDG_RUNTIME_DIR", base, 1);
    char path[PATH_MAX];
    assert_ik(IK_EPERM_OWNER, ik_runtime_dir(path, sizeof(path)));
}

/* ---- process liveness ---- */

/* Poll /proc until pid's leader task is in state c (hang detector only). */
static void wait_state(pid_t pid, char c)
{
    uint64_t t0 = ik__now_ns();
    while (ikt_proc_state(pid) != c) {
        if (ik__now_ns() - t0 > 30ull * 1000000000u)
            fail_msg("pid %d never reached state %c", (int)pid, c);
        sched_yield();
    }
}

static void *thread_wait_then_exit(void *arg)
{
    char c;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

/* Child: a second thread keeps the process alive after the main thread
 * (the leader) exits with pthread_exit. */
static int leader_exits(void *arg)
{
    static int fd;
    fd = ((int *)arg)[0];
    close(((int *)arg)[1]); /* the parent's close (or death) releases us */
    pthread_t t;
    if (pthread_create(&t, NULL, thread_wait_then_exit, &fd) != 0)
        return 1;
    pthread_exit(NULL);
}

static int exit_now(void *arg)
{
    IK__UNUSED(arg);
    return 0;
}

static void test_proc_alive_zombie_leader(void **state)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = ikt_fork(leader_exits, p);
    close(p[0]);
    wait_state(pid, 'Z');
    /* A zombie leader with a live thread is a live process. */
    uint64_t start = 0;
    assert_ok(ik__proc_start_time((int)pid, &start));
    assert_true(ik__proc_alive((int)pid, start));
    assert_int_equal(write(p[1], "x", 1), 1);
    close(p[1]);
    assert_int_equal(ikt_wait(pid), 0);
    assert_false(ik__proc_alive((int)pid, start));

    /* A real zombie (exited, not yet reaped) is dead. */
    pid = ikt_fork(exit_now, NULL);
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    assert_ik(IK_ESRCH, ik__proc_start_time((int)pid, &start));
    assert_false(ik__proc_alive((int)pid, 0));
    assert_int_equal(ikt_wait(pid), 0);
}

static void test_version(void **state)
{
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", IK_VERSION_MAJOR, IK_VERSION_MINOR, IK_VERSION_PATCH);
    assert_string_equal(ik_version(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_text_and_name),
        cmocka_unit_test(test_code_values),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_runtime_dir_created_private),
        cmocka_unit_test(test_runtime_dir_symlink_refused),
        cmocka_unit_test(test_runtime_dir_bad_mode_refused),
        cmocka_unit_test(test_runtime_dir_other_owner_refused),
        cmocka_unit_test(test_runtime_dir_xdg_not_private_ignored),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_proc_alive_zombie_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
