// Boost.Interprocess message_queue for bench_peers: two queues in shared
// memory (a->b, b->a), C entry points. Header-only Boost; no exception
// leaves this file.
#include "peers.h"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/version.hpp>

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace bip = boost::interprocess;

struct boost_conn {
    bip::message_queue *tx = nullptr, *rx = nullptr;
    std::string names[2];
    bool owner = false;
};

static std::string qname(const char *base, const char *dir)
{
    return std::string(base) + dir;
}

extern "C" void *ikb_boost_bind(const char *name, size_t max_msg)
{
    auto *c = new (std::nothrow) boost_conn;
    if (c == nullptr)
        return nullptr;
    try {
        c->names[0] = qname(name, ".a2b");
        c->names[1] = qname(name, ".b2a");
        bip::message_queue::remove(c->names[0].c_str());
        bip::message_queue::remove(c->names[1].c_str());
        // 4 messages of capacity each way: enough to stream, small in shm.
        c->rx = new bip::message_queue(bip::create_only, c->names[0].c_str(), 4, max_msg);
        c->tx = new bip::message_queue(bip::create_only, c->names[1].c_str(), 4, max_msg);
        c->owner = true;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "boost mq bind: %s\n", e.what());
        ikb_boost_close(c);
        return nullptr;
    }
    return c;
}

extern "C" void *ikb_boost_dial(const char *name)
{
    auto *c = new (std::nothrow) boost_conn;
    if (c == nullptr)
        return nullptr;
    try {
        c->tx = new bip::message_queue(bip::open_only, qname(name, ".a2b").c_str());
        c->rx = new bip::message_queue(bip::open_only, qname(name, ".b2a").c_str());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "boost mq dial: %s\n", e.what());
        ikb_boost_close(c);
        return nullptr;
    }
    return c;
}

static boost::posix_time::ptime deadline(int timeout_ms)
{
    return boost::posix_time::microsec_clock::universal_time() +
           boost::posix_time::milliseconds(timeout_ms);
}

extern "C" int ikb_boost_send(void *h, const void *p, size_t n, int timeout_ms)
{
    try {
        bip::message_queue *q = static_cast<boost_conn *>(h)->tx;
        if (timeout_ms < 0) {
            q->send(p, n, 0);
            return 0;
        }
        return q->timed_send(p, n, 0, deadline(timeout_ms)) ? 0 : -1;
    } catch (const std::exception &) {
        return -1;
    }
}

static bool receive(bip::message_queue *q, void *p, size_t cap, size_t &got, int timeout_ms)
{
    bip::message_queue::size_type n = 0;
    unsigned prio = 0;
    bool ok = true;
    if (timeout_ms < 0)
        q->receive(p, cap, n, prio);
    else
        ok = q->timed_receive(p, cap, n, prio, deadline(timeout_ms));
    got = n;
    return ok;
}

extern "C" long ikb_boost_recv(void *h, void *p, size_t cap, int timeout_ms)
{
    // receive() wants room for the largest message: a smaller caller
    // buffer (the 1-byte ack) goes through a bounce buffer.
    static thread_local std::vector<char> bounce;
    try {
        bip::message_queue *q = static_cast<boost_conn *>(h)->rx;
        size_t got = 0;
        if (cap >= q->get_max_msg_size())
            return receive(q, p, cap, got, timeout_ms) ? static_cast<long>(got) : -1;
        bounce.resize(q->get_max_msg_size());
        if (!receive(q, bounce.data(), bounce.size(), got, timeout_ms) || got > cap)
            return -1;
        std::memcpy(p, bounce.data(), got);
        return static_cast<long>(got);
    } catch (const std::exception &) {
        return -1;
    }
}

extern "C" void ikb_boost_close(void *h)
{
    auto *c = static_cast<boost_conn *>(h);
    if (c == nullptr)
        return;
    delete c->tx;
    delete c->rx;
    if (c->owner) {
        bip::message_queue::remove(c->names[0].c_str());
        bip::message_queue::remove(c->names[1].c_str());
    }
    delete c;
}

extern "C" void ikb_boost_remove(const char *name)
{
    bip::message_queue::remove(qname(name, ".a2b").c_str());
    bip::message_queue::remove(qname(name, ".b2a").c_str());
}

extern "C" const char *ikb_boost_version(void)
{
    return BOOST_LIB_VERSION;
}
