#include <gtest/gtest.h>

#include <random>

#include "proxy/request_checks.hpp"

namespace sluice {
namespace {

// scan_header's rules byte by byte, the plainest way to write them.
header_scan scan_header_bytewise(std::string_view bytes)
{
    size_t i = 0;
    while (i + 1 < bytes.size() && bytes[i] == '\r' && bytes[i + 1] == '\n')
        i += 2;
    size_t line_start = i;
    for (; i < bytes.size(); ++i) {
        char c = bytes[i];
        if (c == '\r') {
            if (i + 1 >= bytes.size())
                return {};
            if (bytes[i + 1] != '\n')
                return {header_scan::malformed, 0};
            continue;
        }
        if (c != '\n')
            continue;
        if (i == 0 || bytes[i - 1] != '\r')
            return {header_scan::malformed, 0};
        if (i - 1 == line_start && line_start > 0)
            return {header_scan::complete, i + 1};
        if (i + 1 < bytes.size() && (bytes[i + 1] == ' ' || bytes[i + 1] == '\t'))
            return {header_scan::malformed, 0};
        line_start = i + 1;
    }
    return {};
}

TEST(request_checks, scan_header_agrees_with_a_bytewise_scan)
{
    // Short strings over the bytes that matter, weighted towards CRLF, so that every arrangement
    // of CR, LF, blank lines and folds comes up.
    const std::string_view pieces[] = {"\r\n", "\r\n", "\r", "\n", " ", "\t", "a", "GET / HTTP/1.1", ": "};
    std::mt19937 rng(7);
    for (int round = 0; round < 200000; ++round) {
        std::string s;
        for (int k = static_cast<int>(rng() % 9); k > 0; --k)
            s += pieces[rng() % std::size(pieces)];
        header_scan expected = scan_header_bytewise(s), got = scan_header(s);
        ASSERT_EQ(expected.state, got.state) << testing::PrintToString(s);
        ASSERT_EQ(expected.length, got.length) << testing::PrintToString(s);
    }
}

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
