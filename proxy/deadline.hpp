#pragma once
// Deadlines for I/O steps without a timer operation per step. Arming a slot is a store of a time
// point; one sweep per worker tick cancels the pending operations of every socket whose slot has
// expired. With hundreds of connections, per-operation timers (Beast's basic_stream) cost more
// than the proxying itself; this costs a clock read per step and a list walk per tick.
#include <chrono>

#include <boost/asio/ip/tcp.hpp>

namespace sluice {

class deadline_slot;

// The slots of one worker: an intrusive list, owned by the worker, outliving every session.
class deadline_list {
public:
    using clock = std::chrono::steady_clock;
    deadline_list();
    deadline_list(const deadline_list&) = delete;
    deadline_list& operator=(const deadline_list&) = delete;

    // Cancels the operations of expired slots; returns how many fired. A parkable slot that has
    // been idle through `park_after_ticks` sweeps has its read cancelled too, marked parking().
    size_t sweep(clock::time_point now);
    static constexpr unsigned park_after_ticks = 4;
    // Cancels the operations of every slot marked idle (connections between requests).
    size_t cancel_idle();
    size_t size() const { return size_; }

private:
    friend class deadline_slot;
    struct node {
        node* prev;
        node* next;
        deadline_slot* owner;
    };
    node head_;
    size_t size_ = 0;
};

// One socket's deadline. Lives on the coroutine frame next to the socket it guards, which must
// be declared before it.
class deadline_slot {
public:
    using clock = deadline_list::clock;
    deadline_slot(deadline_list& list, boost::asio::ip::tcp::socket& socket);
    ~deadline_slot();
    deadline_slot(const deadline_slot&) = delete;
    deadline_slot& operator=(const deadline_slot&) = delete;

    void arm(std::chrono::milliseconds timeout)
    {
        at_ = clock::now() + timeout;
        fired_ = false;
    }
    void arm_until(clock::time_point at)
    {
        at_ = at;
        fired_ = false;
    }
    void disarm() { at_ = clock::time_point::max(); }
    // A client connection waiting for its next request, with nothing read yet: a drain closes it.
    void set_idle(bool idle)
    {
        idle_ = idle;
        idle_ticks_ = 0;
        parking_ = false;
    }
    // A connection that may be parked: when it stays idle, the sweep cancels its read so that
    // the session can hand the bare socket to its worker and free everything else.
    void set_parkable(bool parkable) { parkable_ = parkable; }
    // The sweep cancelled the idle read to park the connection (not a timeout).
    bool parking() const { return parking_; }
    // The last armed step ran out of time (its operations were cancelled).
    bool fired() const { return fired_; }
    clock::time_point expiry() const { return at_; }

private:
    friend class deadline_list;
    deadline_list::node link_;
    deadline_list& list_;
    boost::asio::ip::tcp::socket& socket_;
    clock::time_point at_ = clock::time_point::max();
    bool fired_ = false;
    bool idle_ = false;
    bool parkable_ = false;
    bool parking_ = false;
    unsigned char idle_ticks_ = 0;
};

}  // namespace sluice
