/* ipckit recv: receive messages from any channel URL to stdout. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void recv_usage(FILE *f)
{
    fprintf(f, "usage: ipckit recv [options] URL\n"
               "\n"
               "Receive messages from a channel URL and write each to stdout followed by a\n"
               "newline (raw mode: bytes as they come). Stops when the peer closes, after\n"
               "--count messages, or on a timeout.\n"
               "\n"
               "  -n, --count N      stop after N messages\n"
               "  -l, --listen       listen on URL (default: dial); with --count, serve\n"
               "                     successive peers until N messages arrived\n"
               "  -r, --raw          no framing: plain bytes (for non-ipckit peers)\n"
               "  -t, --timeout MS   dial/accept timeout and wait per message (default -1)\n"
               "  -h, --help         show this help\n"
               "\n"
               "exit status: 0 done (peer closed or count reached), 1 failure, 2 usage error\n");
}

int ik_cmd_recv(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'}, {"listen", no_argument, NULL, 'l'},
        {"raw", no_argument, NULL, 'r'},         {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    long count = -1;
    struct ik_cli_chan_args ca = {.listen = 0, .raw = 0, .timeout = -1};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "n:lrt:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || errno != 0 || count < 0) {
                recv_usage(stderr);
                return IK_EXIT_USAGE;
            }
            break;
        case 'h':
            recv_usage(stdout);
            return IK_EXIT_OK;
        default:
            if (ik_cli_chan_opt(c, optarg, &ca) > 0)
                break;
            recv_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        recv_usage(stderr);
        return IK_EXIT_USAGE;
    }
    const char *url = argv[optind];
    ik_chan *ch = NULL;
    ik_listener *l = NULL;
    ik_chan_opts *o;
    int rc = ik_chan_opts_new(&o);
    if (rc == 0 && (rc = ik_chan_opts_set_raw(o, ca.raw)) == 0 &&
        (rc = ik_chan_opts_set_timeout(o, ca.timeout)) == 0)
        rc = ca.listen ? ik_listen(&l, url, o) : ik_dial(&ch, url, o);
    ik_chan_opts_free(o);
    if (rc == 0 && l != NULL) {
        char real[512];
        if (ik_listener_url(l, real, sizeof(real)) == 0)
            fprintf(stderr, "ipckit: listening on %s\n", real);
        rc = ik_accept(l, &ch, ca.timeout);
    }
    if (rc != 0) {
        ik_cli_error(url, rc);
        if (ik_chan_last_errdetail()[0])
            fprintf(stderr, "ipckit: detail: %s\n", ik_chan_last_errdetail());
        ik_listener_close(l);
        return IK_EXIT_FAIL;
    }
    int status = IK_EXIT_OK;
    for (long i = 0; count < 0 || i < count;) {
        void *buf;
        size_t len;
        rc = ik_recv_alloc(ch, &buf, &len, ca.timeout);
        if (rc == IK_ECLOSED && l != NULL && count >= 0) {
            /* --listen --count N: serve successive peers until N arrived */
            ik_chan_close(ch);
            ch = NULL;
            rc = ik_accept(l, &ch, ca.timeout);
            if (rc == 0)
                continue;
        }
        if (rc == IK_ECLOSED && count < 0)
            break;
        if (rc != 0) {
            ik_cli_error("recv", rc);
            if (ch != NULL && ik_chan_errdetail(ch)[0])
                fprintf(stderr, "ipckit: detail: %s\n", ik_chan_errdetail(ch));
            status = IK_EXIT_FAIL;
            break;
        }
        int bad = fwrite(buf, 1, len, stdout) != len;
        if (!ca.raw && !bad)
            bad = fputc('\n', stdout) == EOF;
        if (!bad)
            bad = fflush(stdout) != 0;
        free(buf);
        if (bad) { /* e.g. disk full: never drop a message silently */
            ik_cli_error("stdout", errno > 0 ? -errno : IK_EIO);
            status = IK_EXIT_FAIL;
            break;
        }
        i++;
    }
    ik_listener_close(l);
    ik_chan_close(ch);
    return status;
}
