#pragma once
// The manifest-directory source: every *.yaml, *.yml and *.json below a directory, watched with
// inotify. Emits the same add/update/delete changes the Kubernetes API source does.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/change_source.hpp"
#include "controller/object_store.hpp"
#include "controller/yaml_to_json.hpp"

namespace sluice {

class manifest_source final : public change_source {
public:
    manifest_source(boost::asio::io_context& io, std::filesystem::path dir, change_handler on_changes,
                    std::chrono::milliseconds debounce = std::chrono::milliseconds(10));
    ~manifest_source();

    // Reads every file once and reports all objects (synchronously, through the handler).
    void initial_sync() override;
    // Starts watching; later changes are reported on the io_context's thread.
    void watch() override;

    // Problems with the files themselves (parse errors, duplicate objects, unknown documents).
    const std::vector<diagnostic>& diagnostics() const override { return diagnostics_; }

    // Re-reads changed files and reports what changed since the last report.
    void rescan();

private:
    // A document of a file, identified once when the file is parsed. Objects are shared with
    // current_, so a rescan compares only the documents of files that changed (an unchanged
    // file's objects are the same pointers).
    struct parsed_document {
        std::shared_ptr<const nlohmann::json> object;
        std::string origin;  // "path:line"
        bool identified = false;
        object_key key;
        std::string error;   // why it was not identified
    };
    struct file_state {
        std::filesystem::file_time_type mtime;
        uintmax_t size = 0;
        uint64_t inode = 0;
        std::vector<parsed_document> documents;  // from the last successful parse
        std::string error;                       // the last parse error, if the file is bad now
    };
    struct emitted {
        std::shared_ptr<const nlohmann::json> object;
        std::string origin;
    };

    void add_watches(const std::filesystem::path& dir);
    // The merge of a rescan whose re-read files kept their objects; false when it does not apply.
    bool update_in_place(const std::vector<std::pair<const std::filesystem::path*, std::vector<parsed_document>>>& reread);
    void arm_read();
    void schedule_rescan();

    boost::asio::io_context& io_;
    std::filesystem::path dir_;
    change_handler on_changes_;
    std::chrono::milliseconds debounce_;
    int inotify_fd_ = -1;
    std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
    boost::asio::steady_timer debounce_timer_;
    bool rescan_pending_ = false;
    bool reported_once_ = false;
    std::map<int, std::filesystem::path> watches_;
    std::map<std::filesystem::path, file_state> files_;
    std::map<object_key, emitted> current_;
    std::vector<diagnostic> diagnostics_;
    std::vector<char> event_buffer_;
};

}  // namespace sluice
