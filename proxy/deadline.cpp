#include "proxy/deadline.hpp"

namespace sluice {

deadline_list::deadline_list()
{
    head_.prev = head_.next = &head_;
    head_.owner = nullptr;
}

size_t deadline_list::sweep(clock::time_point now)
{
    size_t fired = 0;
    for (node* n = head_.next; n != &head_; n = n->next) {
        deadline_slot* slot = n->owner;
        if (slot->at_ <= now) {
            slot->fired_ = true;
            slot->at_ = clock::time_point::max();
            boost::system::error_code ignored;  // cancel fails only on a closed socket: nothing pending then
            slot->socket_.cancel(ignored);
            ++fired;
        } else if (slot->idle_ && slot->parkable_ && !slot->parking_ && ++slot->idle_ticks_ >= park_after_ticks) {
            slot->parking_ = true;
            boost::system::error_code ignored;
            slot->socket_.cancel(ignored);
        }
    }
    return fired;
}

size_t deadline_list::cancel_idle()
{
    size_t cancelled = 0;
    for (node* n = head_.next; n != &head_; n = n->next) {
        deadline_slot* slot = n->owner;
        if (slot->idle_) {
            boost::system::error_code ignored;  // cancel fails only on a closed socket: nothing pending then
            slot->socket_.cancel(ignored);
            ++cancelled;
        }
    }
    return cancelled;
}

deadline_slot::deadline_slot(deadline_list& list, boost::asio::ip::tcp::socket& socket) : list_(list), socket_(socket)
{
    link_.owner = this;
    link_.prev = list.head_.prev;
    link_.next = &list.head_;
    list.head_.prev->next = &link_;
    list.head_.prev = &link_;
    ++list.size_;
}

deadline_slot::~deadline_slot()
{
    link_.prev->next = link_.next;
    link_.next->prev = link_.prev;
    --list_.size_;
}

}  // namespace sluice
