// Graceful shutdown through the real binary: SIGTERM drains, SIGQUIT stops at once.
#include <atomic>
#include <csignal>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "tests/integration/harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class draining : public ::testing::Test {
protected:
    void SetUp() override
    {
        s.write("class.yaml", ingress_class_yaml());
        s.write("svc.yaml", service_yaml("echo", {echo.port()}) + "---\n" + service_yaml("slow", {slow.port()}));
        s.write("ing.yaml", ingress_yaml("web", "drain.test", {{"/", "Prefix", "echo"}, {"/slow", "Prefix", "slow"}}));
        s.start();
    }
    void TearDown() override { release = true; }

    std::atomic<bool> release{false};
    echo_backend echo{"echo"};
    raw_server slow{[this](tcp::socket& sock) {
        asio::streambuf req;
        asio::read_until(sock, req, "\r\n\r\n");
        while (!release)
            std::this_thread::sleep_for(5ms);
        asio::write(sock, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")));
        boost::system::error_code ec;
        asio::read(sock, req, ec);
    }};
    sluice_instance s;
};

bool refuses_connections(uint16_t port)
{
    try {
        http_connection c(port);
        c.request("GET", "/", "drain.test");
        return false;
    } catch (const std::exception&) {
        return true;
    }
}

TEST_F(draining, sigterm_finishes_requests_in_flight_closes_idle_connections_and_exits_0)
{
    http_connection idle(s.port());
    ASSERT_EQ(idle.request("GET", "/", "drain.test").status, 200u);
    response in_flight;
    std::thread t([&] {
        http_connection c(s.port());
        in_flight = c.request("GET", "/slow", "drain.test");
    });
    ASSERT_TRUE(wait_until([&] { return s.metric("sluice_requests_total") >= 2; }));

    s.proc().send_signal(SIGTERM);
    ASSERT_TRUE(s.proc().wait_for_line(std::regex("received SIGTERM, draining"), 5s));
    EXPECT_EQ(http_get(s.status_port(), "/readyz", "x").status, 503u);
    EXPECT_TRUE(wait_until([&] { return refuses_connections(s.port()); }, 3s));
    // The idle keep-alive connection was closed by sluice.
    EXPECT_THROW(idle.request("GET", "/", "drain.test"), std::exception);
    EXPECT_TRUE(s.proc().running());

    release = true;
    t.join();
    EXPECT_EQ(in_flight.status, 200u);
    EXPECT_EQ(in_flight.body, "done");
    EXPECT_FALSE(in_flight.keep_alive);
    EXPECT_EQ(s.proc().wait_exit(5s), 0);
}

// A keep-alive connection parked by its worker (idle for a second) is closed by a drain as an
// idle one is: nothing is in flight, so the process exits at once.
TEST_F(draining, sigterm_closes_parked_connections_at_once)
{
    http_connection parked(s.port());
    ASSERT_EQ(parked.request("GET", "/", "drain.test").status, 200u);
    ASSERT_TRUE(wait_until([&] { return s.metric("sluice_connections_parked") == 1; }, 3s));
    s.proc().send_signal(SIGTERM);
    EXPECT_EQ(s.proc().wait_exit(3s), 0);
    EXPECT_THROW(parked.request("GET", "/", "drain.test"), std::exception);
}

TEST_F(draining, sigquit_stops_at_once)
{
    // A parked connection too: the worker closes it as it stops, its wait never runs.
    http_connection parked(s.port());
    ASSERT_EQ(parked.request("GET", "/", "drain.test").status, 200u);
    ASSERT_TRUE(wait_until([&] { return s.metric("sluice_connections_parked") == 1; }, 3s));
    std::thread t([&] {
        try {
            http_connection c(s.port());
            c.request("GET", "/slow", "drain.test");
        } catch (const std::exception&) {
            // The connection dies with the process: expected.
        }
    });
    ASSERT_TRUE(wait_until([&] { return s.metric("sluice_requests_total") >= 1; }));
    s.proc().send_signal(SIGQUIT);
    EXPECT_EQ(s.proc().wait_exit(5s), 0);
    release = true;
    t.join();
}

}  // namespace
}  // namespace sluice::test
