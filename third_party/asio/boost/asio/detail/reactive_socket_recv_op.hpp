//
// detail/reactive_socket_recv_op.hpp (Boost 1.81, with sluice's change marked 'sluice:')
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
//
// Copyright (c) 2003-2022 Christopher M. Kohlhoff (chris at kohlhoff dot com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at http://www.boost.org/LICENSE_1_0.txt)
//

#ifndef BOOST_ASIO_DETAIL_REACTIVE_SOCKET_RECV_OP_HPP
#define BOOST_ASIO_DETAIL_REACTIVE_SOCKET_RECV_OP_HPP

#if defined(_MSC_VER) && (_MSC_VER >= 1200)
# pragma once
#endif // defined(_MSC_VER) && (_MSC_VER >= 1200)

#include <boost/asio/detail/config.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/buffer_sequence_adapter.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_invoke_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include <boost/version.hpp>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

// sluice: this file replaces Boost 1.81's own (third_party/asio/README.md says why). It must
// be reviewed against the original whenever Boost changes.
static_assert(BOOST_VERSION == 108100,
    "third_party/asio patches Boost 1.81's reactive_socket_recv_op.hpp");

// TCP_CM_INQ (Linux 4.18): the control message TCP_INQ adds to each read.
#define SLUICE_TCP_CM_INQ 36

#include <boost/asio/detail/push_options.hpp>

namespace boost {
namespace asio {
namespace detail {

// sluice: reads a stream socket with recvmsg and, when the socket has TCP_INQ set, learns from
// the kernel's TCP_CM_INQ control message whether anything (bytes or a FIN) is left to read.
// When nothing is, the read is done_and_exhausted: the epoll reactor then clears the
// descriptor's speculative-read flag, so the next read on the socket waits for the next
// edge-triggered event instead of first trying a recv that fails with EAGAIN. This is the
// readiness tracking nginx does with its `ready` flag, made exact by TCP_INQ (nginx infers it
// from a short read and needs EPOLLRDHUP for a FIN that arrived with the data). A socket
// without TCP_INQ sends no control message and behaves as in Asio: exhausted only at the end
// of the stream or on an error.
inline reactor_op::status recv_reporting_inq(socket_type s,
    socket_ops::buf* bufs, std::size_t count, int flags,
    boost::system::error_code& ec, std::size_t& bytes_transferred)
{
  for (;;)
  {
    msghdr msg = msghdr();
    msg.msg_iov = bufs;
    msg.msg_iovlen = count;
    union { cmsghdr align; char bytes[CMSG_SPACE(sizeof(int))]; } control;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof(control.bytes);
    signed_size_type bytes = ::recvmsg(s, &msg, flags);
    if (bytes > 0)
    {
      ec = boost::system::error_code();
      bytes_transferred = static_cast<std::size_t>(bytes);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      {
        if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == SLUICE_TCP_CM_INQ
            && c->cmsg_len >= CMSG_LEN(sizeof(int)))
        {
          int inq;
          std::memcpy(&inq, CMSG_DATA(c), sizeof(inq));
          return inq == 0 ? reactor_op::done_and_exhausted : reactor_op::done;
        }
      }
      return reactor_op::done;
    }
    bytes_transferred = 0;
    if (bytes == 0)
    {
      ec = boost::asio::error::eof;
      return reactor_op::done_and_exhausted;
    }
    ec = boost::system::error_code(errno,
        boost::asio::error::get_system_category());
    if (ec == boost::asio::error::interrupted)
      continue;
    if (ec == boost::asio::error::would_block
        || ec == boost::asio::error::try_again)
      return reactor_op::not_done;
    return reactor_op::done_and_exhausted;
  }
}

template <typename MutableBufferSequence>
class reactive_socket_recv_op_base : public reactor_op
{
public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec,
      socket_type socket, socket_ops::state_type state,
      const MutableBufferSequence& buffers,
      socket_base::message_flags flags, func_type complete_func)
    : reactor_op(success_ec,
        &reactive_socket_recv_op_base::do_perform, complete_func),
      socket_(socket),
      state_(state),
      buffers_(buffers),
      flags_(flags)
  {
  }

  static status do_perform(reactor_op* base)
  {
    reactive_socket_recv_op_base* o(
        static_cast<reactive_socket_recv_op_base*>(base));

    typedef buffer_sequence_adapter<boost::asio::mutable_buffer,
        MutableBufferSequence> bufs_type;

    // sluice: a stream read that does not peek goes through recv_reporting_inq.
    if ((o->state_ & socket_ops::stream_oriented) != 0
        && (o->flags_ & MSG_PEEK) == 0)
    {
      bufs_type bufs(o->buffers_);
      return recv_reporting_inq(o->socket_, bufs.buffers(), bufs.count(),
          o->flags_, o->ec_, o->bytes_transferred_);
    }

    status result;
    if (bufs_type::is_single_buffer)
    {
      result = socket_ops::non_blocking_recv1(o->socket_,
          bufs_type::first(o->buffers_).data(),
          bufs_type::first(o->buffers_).size(), o->flags_,
          (o->state_ & socket_ops::stream_oriented) != 0,
          o->ec_, o->bytes_transferred_) ? done : not_done;
    }
    else
    {
      bufs_type bufs(o->buffers_);
      result = socket_ops::non_blocking_recv(o->socket_,
          bufs.buffers(), bufs.count(), o->flags_,
          (o->state_ & socket_ops::stream_oriented) != 0,
          o->ec_, o->bytes_transferred_) ? done : not_done;
    }

    if (result == done)
      if ((o->state_ & socket_ops::stream_oriented) != 0)
        if (o->bytes_transferred_ == 0)
          result = done_and_exhausted;

    BOOST_ASIO_HANDLER_REACTOR_OPERATION((*o, "non_blocking_recv",
          o->ec_, o->bytes_transferred_));

    return result;
  }

private:
  socket_type socket_;
  socket_ops::state_type state_;
  MutableBufferSequence buffers_;
  socket_base::message_flags flags_;
};

template <typename MutableBufferSequence, typename Handler, typename IoExecutor>
class reactive_socket_recv_op :
  public reactive_socket_recv_op_base<MutableBufferSequence>
{
public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(reactive_socket_recv_op);

  reactive_socket_recv_op(const boost::system::error_code& success_ec,
      socket_type socket, socket_ops::state_type state,
      const MutableBufferSequence& buffers, socket_base::message_flags flags,
      Handler& handler, const IoExecutor& io_ex)
    : reactive_socket_recv_op_base<MutableBufferSequence>(success_ec, socket,
        state, buffers, flags, &reactive_socket_recv_op::do_complete),
      handler_(BOOST_ASIO_MOVE_CAST(Handler)(handler)),
      work_(handler_, io_ex)
  {
  }

  static void do_complete(void* owner, operation* base,
      const boost::system::error_code& /*ec*/,
      std::size_t /*bytes_transferred*/)
  {
    // Take ownership of the handler object.
    reactive_socket_recv_op* o(static_cast<reactive_socket_recv_op*>(base));
    ptr p = { boost::asio::detail::addressof(o->handler_), o, o };

    BOOST_ASIO_HANDLER_COMPLETION((*o));

    // Take ownership of the operation's outstanding work.
    handler_work<Handler, IoExecutor> w(
        BOOST_ASIO_MOVE_CAST2(handler_work<Handler, IoExecutor>)(
          o->work_));

    BOOST_ASIO_ERROR_LOCATION(o->ec_);

    // Make a copy of the handler so that the memory can be deallocated before
    // the upcall is made. Even if we're not about to make an upcall, a
    // sub-object of the handler may be the true owner of the memory associated
    // with the handler. Consequently, a local copy of the handler is required
    // to ensure that any owning sub-object remains valid until after we have
    // deallocated the memory here.
    detail::binder2<Handler, boost::system::error_code, std::size_t>
      handler(o->handler_, o->ec_, o->bytes_transferred_);
    p.h = boost::asio::detail::addressof(handler.handler_);
    p.reset();

    // Make the upcall if required.
    if (owner)
    {
      fenced_block b(fenced_block::half);
      BOOST_ASIO_HANDLER_INVOCATION_BEGIN((handler.arg1_, handler.arg2_));
      w.complete(handler, handler.handler_);
      BOOST_ASIO_HANDLER_INVOCATION_END;
    }
  }

private:
  Handler handler_;
  handler_work<Handler, IoExecutor> work_;
};

} // namespace detail
} // namespace asio
} // namespace boost

#include <boost/asio/detail/pop_options.hpp>

#endif // BOOST_ASIO_DETAIL_REACTIVE_SOCKET_RECV_OP_HPP
