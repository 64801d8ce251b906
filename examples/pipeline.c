/*
 * The seed's `ls | grep`: one process lists a directory, another filters the
 * names, and the results come back to the parent.
 *   lister --(ipckit pipe pair, framed: one message per name)--> filter
 *   filter --(fifo://NAME in the private runtime dir)--> parent (prints)
 * Each message is one whole file name, whatever its length; no line parsing.
 *
 * usage: pipeline [DIR [PATTERN]]   (default: . and .c)
 */
#include <ipckit.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int lister(ik_chan *out, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && ik_send(out, de->d_name, strlen(de->d_name), -1) != 0)
            break;
    closedir(d);
    ik_chan_close(out); /* the filter sees IK_ECLOSED: end of list */
    return 0;
}

static int filter(ik_chan *in, const char *fifo_url, const char *pattern)
{
    ik_chan *out;
    if (ik_dial(&out, fifo_url, NULL) != 0)
        return 1;
    for (;;) {
        char name[4096];
        size_t len;
        int rc = ik_recv(in, name, sizeof(name) - 1, &len, -1);
        if (rc != 0)
            break;
        name[len] = '\0';
        if (strstr(name, pattern) != NULL && ik_send(out, name, len, -1) != 0)
            return 1;
    }
    ik_chan_close(in);
    ik_chan_close(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *pattern = argc > 2 ? argv[2] : ".c";
    char fifo_url[64];
    snprintf(fifo_url, sizeof(fifo_url), "fifo://pipeline-%d", (int)getpid());
    ik_listener *l;
    int rc = ik_listen(&l, fifo_url, NULL);
    if (rc != 0) {
        fprintf(stderr, "pipeline: %s: %s\n", fifo_url, ik_strerror(rc));
        return 1;
    }
    ik_chan *a, *b;
    if (ik_chan_pair(&a, &b, "pipe") != 0)
        return 1;
    fflush(NULL);
    pid_t p1 = fork();
    if (p1 == 0) {
        ik_chan_close(b);
        _exit(lister(a, dir));
    }
    pid_t p2 = fork();
    if (p2 == 0) {
        ik_chan_close(a);
        _exit(filter(b, fifo_url, pattern));
    }
    ik_chan_close(a);
    ik_chan_close(b);
    ik_chan *in;
    rc = ik_accept(l, &in, 10000);
    if (rc != 0) {
        fprintf(stderr, "pipeline: accept: %s\n", ik_strerror(rc));
        return 1;
    }
    int found = 0;
    for (;;) {
        char name[4096];
        size_t len;
        if (ik_recv(in, name, sizeof(name) - 1, &len, -1) != 0)
            break; /* IK_ECLOSED: the filter is done */
        name[len] = '\0';
        printf("%s\n", name);
        found++;
    }
    ik_chan_close(in);
    ik_listener_close(l);
    int st1, st2;
    waitpid(p1, &st1, 0);
    waitpid(p2, &st2, 0);
    fprintf(stderr, "pipeline: %d match(es)\n", found);
    return WIFEXITED(st1) && WEXITSTATUS(st1) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0 ? 0
                                                                                              : 1;
}
