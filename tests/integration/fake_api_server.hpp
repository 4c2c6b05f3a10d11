#pragma once
// A Kubernetes API server for tests, written to the API's documented list and watch semantics
// (https://kubernetes.io/docs/reference/using-api/api-concepts/): one resourceVersion counter for
// every object; a list answers the objects and the current version, items without kind and
// apiVersion, paged by limit/continue; a watch (?watch=1&resourceVersion=N) streams, chunked, one
// JSON event per line for every change after N: ADDED, MODIFIED, DELETED, BOOKMARK (when asked
// with allowWatchBookmarks) and ERROR with a 410 Status when N is older than the compacted
// history. Requests must carry the current bearer token (401 otherwise). Tests can cut every
// open watch mid-stream, compact the history, rotate the token and read what was requested, and
// make it misbehave: raw lines on the watch streams, a raw body for a list.
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

namespace sluice::test {

class fake_api_server {
public:
    fake_api_server();
    ~fake_api_server();
    uint16_t port() const { return port_; }

    // Adds or replaces an object (its kind picks the collection); returns its resourceVersion.
    uint64_t put(nlohmann::json object);
    void remove(const std::string& kind, const std::string& ns, const std::string& name);
    // Forgets the history up to now: watches from an older version get 410 Gone.
    void compact();
    // Ends every open watch stream abruptly (no final chunk), as a dropped connection.
    void cut_watches();
    // Sends a BOOKMARK with the current version on every watch that asked for them.
    void bookmark();
    void set_token(const std::string& token);
    // The stored object, or null.
    nlohmann::json object(const std::string& kind, const std::string& ns, const std::string& name) const;
    // Answers `status` to every request for this collection path until cleared (status 0).
    void fail_path(const std::string& collection, unsigned status);
    // Sends `line` (and a newline), as it is, on the newest watch stream of this collection.
    void send_raw_line(const std::string& collection, const std::string& line);
    // Answers 200 with `body` to every list of this collection until cleared (empty body).
    void answer_lists_with(const std::string& collection, const std::string& body);

    struct request_record {
        std::string method, target, authorization;
        nlohmann::json body;
    };
    std::vector<request_record> requests() const;
    size_t count(const std::string& method, const std::string& target_prefix, bool watch) const;
    size_t open_watches() const;
    // PUT/POST bodies received for a path (status write-back).
    std::map<std::string, nlohmann::json> written() const;

private:
    struct event {
        uint64_t version;
        std::string collection;  // "/api/v1/services"
        std::string type;
        nlohmann::json object;
    };
    void serve(boost::asio::ip::tcp::socket& socket);
    static std::string collection_of(const std::string& kind);

    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::thread accept_thread_;
    std::vector<std::thread> connections_;
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
    std::vector<int> descriptors_;  // of sockets_, for unblocking their threads at the end
    int listen_fd_ = -1;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    uint64_t version_ = 100;
    uint64_t compacted_ = 0;
    uint64_t cut_generation_ = 0;
    uint64_t bookmark_generation_ = 0;
    bool stopping_ = false;
    std::string token_ = "test-token";
    // collection → "namespace/name" → object
    std::map<std::string, std::map<std::string, nlohmann::json>> objects_;
    std::vector<event> history_;
    std::vector<request_record> requests_;
    std::map<std::string, unsigned> failing_;
    std::vector<std::pair<std::string, std::string>> raw_lines_;  // collection, line
    std::map<std::string, std::string> raw_lists_;
    std::map<std::string, uint64_t> latest_watch_;  // collection → the newest watch's id
    uint64_t watch_ids_ = 0;
    std::map<std::string, nlohmann::json> written_;
    size_t open_watches_ = 0;
    uint16_t port_ = 0;
};

}  // namespace sluice::test
