#include <gtest/gtest.h>

#include "proxy/request_checks.hpp"

namespace sluice {
namespace {

TEST(request_checks, scan_header_finds_the_end_and_refuses_folding)
{
    EXPECT_EQ(scan_header("").state, header_scan::incomplete);
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r\nHost: a\r\n").state, header_scan::incomplete);
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r\nHost: a\r\n\r").state, header_scan::incomplete);
    auto done = scan_header("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY");
    EXPECT_EQ(done.state, header_scan::complete);
    EXPECT_EQ(done.length, 27u);
    EXPECT_EQ(scan_header("\r\n\r\nGET / HTTP/1.1\r\n\r\n").state, header_scan::complete) << "leading blank lines";
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n").state, header_scan::malformed);
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n").state, header_scan::malformed);
    EXPECT_EQ(scan_header("GET / HTTP/1.1\nA: b\n\n").state, header_scan::malformed);
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n").state, header_scan::malformed);
    // Incomplete input is never judged early: a CR at the end may be followed by LF.
    EXPECT_EQ(scan_header("GET / HTTP/1.1\r").state, header_scan::incomplete);
}

TEST(request_checks, version_and_line_limits)
{
    EXPECT_EQ(version_error_status("GET / HTTP/2.0\r\n"), 505u);
    EXPECT_EQ(version_error_status("GET / HTTP/1.x\r\n"), 400u);
    EXPECT_EQ(version_error_status("GET /a b HTTP/1.1\r\n"), 400u);
    EXPECT_EQ(oversized_header_status("GET /aaaa", 4), 414u);
    EXPECT_EQ(oversized_header_status("GET / HTTP/1.1\r\nX: yyyy", 100), 431u);
}

}  // namespace
}  // namespace sluice
