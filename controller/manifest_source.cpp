#include "controller/manifest_source.hpp"

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/log.hpp"

namespace sluice {

namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

constexpr uint32_t watch_mask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;

bool is_manifest_name(const fs::path& p)
{
    auto name = p.filename().string();
    if (name.empty() || name.front() == '.')
        return false;
    auto ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// Hidden entries are skipped: editors' swap files, and the "..data" directories of a mounted
// ConfigMap, whose files are already reached through the visible symlinks.
bool is_hidden(const fs::path& p)
{
    auto name = p.filename().string();
    return !name.empty() && name.front() == '.';
}

}  // namespace

manifest_source::manifest_source(asio::io_context& io, fs::path dir, change_handler on_changes,
                                 std::chrono::milliseconds debounce)
    : io_(io), dir_(std::move(dir)), on_changes_(std::move(on_changes)), debounce_(debounce), debounce_timer_(io)
{
    event_buffer_.resize(64 * 1024);
}

manifest_source::~manifest_source()
{
    if (inotify_)
        inotify_->close();
    else if (inotify_fd_ >= 0)
        ::close(inotify_fd_);
}

void manifest_source::initial_sync() { rescan(); }

void manifest_source::watch()
{
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0)
        throw std::runtime_error(std::string("inotify_init1: ") + std::strerror(errno));
    inotify_ = std::make_unique<asio::posix::stream_descriptor>(io_, inotify_fd_);
    add_watches(dir_);
    arm_read();
    // Files may have changed between the initial read and the first watch.
    schedule_rescan();
}

void manifest_source::add_watches(const fs::path& dir)
{
    std::set<fs::path> watched;
    for (const auto& [wd, path] : watches_)
        watched.insert(path);
    std::vector<fs::path> stack{dir};
    while (!stack.empty()) {
        fs::path d = stack.back();
        stack.pop_back();
        if (!watched.contains(d)) {
            int wd = inotify_add_watch(inotify_fd_, d.c_str(), watch_mask);
            if (wd >= 0) {
                watches_[wd] = d;
                watched.insert(d);
            } else {
                log_warning("cannot watch " + d.string() + ": " + std::strerror(errno));
            }
        }
        std::error_code ec;
        for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
            if (is_hidden(it->path()))
                continue;
            std::error_code type_ec;
            if (it->is_directory(type_ec))
                stack.push_back(it->path());
        }
    }
}

void manifest_source::arm_read()
{
    inotify_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec)
            return;
        for (;;) {
            ssize_t n = ::read(inotify_fd_, event_buffer_.data(), event_buffer_.size());
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                auto* ev = reinterpret_cast<inotify_event*>(event_buffer_.data() + off);
                if (ev->mask & IN_IGNORED)
                    watches_.erase(ev->wd);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
            }
        }
        schedule_rescan();
        arm_read();
    });
}

void manifest_source::schedule_rescan()
{
    // Editors write a file in several steps; one rescan after a short quiet period sees the end.
    debounce_timer_.expires_after(debounce_);
    if (rescan_pending_)
        return;
    rescan_pending_ = true;
    debounce_timer_.async_wait([this](const boost::system::error_code& ec) {
        rescan_pending_ = false;
        if (ec == asio::error::operation_aborted) {
            schedule_rescan();  // the timer was pushed back by a newer event
            return;
        }
        if (inotify_)
            add_watches(dir_);
        rescan();
    });
}

bool manifest_source::update_in_place(const std::vector<std::pair<const fs::path*, std::vector<parsed_document>>>& reread)
{
    // Each file must define the same objects as before, in the same order, each once, none of
    // them defined by another file (that would be a diagnostic naming lines of this one): then
    // the merge of all files and its diagnostics are what they were, but for these objects.
    std::set<object_key> keys;
    for (const auto& [path, before] : reread) {
        const file_state& now = files_.at(*path);
        if (now.documents.size() != before.size())
            return false;
        const std::string prefix = path->string() + ":";
        for (size_t i = 0; i < before.size(); ++i) {
            const parsed_document& a = before[i];
            const parsed_document& b = now.documents[i];
            if (!a.identified || !b.identified || a.key != b.key || !keys.insert(b.key).second)
                return false;
            auto it = current_.find(b.key);
            if (it == current_.end() || !it->second.origin.starts_with(prefix))
                return false;
        }
        for (const auto& d : diagnostics_)
            if (d.object.find(prefix) != std::string::npos || d.message.find(prefix) != std::string::npos)
                return false;
    }
    std::vector<object_change> changes;
    for (const auto& [path, before] : reread) {
        for (const parsed_document& doc : files_.at(*path).documents) {
            emitted& e = current_.at(doc.key);
            if (e.object != doc.object && *e.object != *doc.object)
                changes.push_back({doc.key, *doc.object, doc.origin});
            e = emitted{doc.object, doc.origin};
        }
    }
    on_changes_(std::move(changes));
    return true;
}

void manifest_source::rescan()
{
    // 1. Find the files and re-read the ones whose size, time or inode changed.
    std::set<fs::path> seen;
    std::vector<fs::path> stack{dir_};
    bool any_file_changed = false;
    // Files re-read without error, with the documents they had: when each keeps its objects
    // (same keys, same order) the merge below updates those objects in place.
    std::vector<std::pair<const fs::path*, std::vector<parsed_document>>> reread;
    bool same_objects = true;
    while (!stack.empty()) {
        fs::path d = stack.back();
        stack.pop_back();
        std::error_code ec;
        for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
            const fs::path& p = it->path();
            if (is_hidden(p))
                continue;
            std::error_code type_ec;
            if (it->is_directory(type_ec)) {
                stack.push_back(p);
                continue;
            }
            if (!is_manifest_name(p) || !it->is_regular_file(type_ec))
                continue;
            struct stat st {};
            if (::stat(p.c_str(), &st) != 0)
                continue;
            seen.insert(p);
            auto mtime = fs::last_write_time(p, type_ec);
            auto& state = files_[p];
            if (!state.documents.empty() || !state.error.empty() || state.inode != 0) {
                if (state.mtime == mtime && state.size == static_cast<uintmax_t>(st.st_size) &&
                    state.inode == static_cast<uint64_t>(st.st_ino))
                    continue;
            }
            const bool known = !state.documents.empty() || !state.error.empty() || state.inode != 0;
            state.mtime = mtime;
            state.size = static_cast<uintmax_t>(st.st_size);
            state.inode = static_cast<uint64_t>(st.st_ino);
            any_file_changed = true;
            same_objects = same_objects && known && state.error.empty();
            std::ifstream in(p, std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            try {
                std::vector<parsed_document> documents;
                for (auto& doc : parse_manifest_text(text.str(), p.extension() == ".json")) {
                    parsed_document d;
                    d.origin = p.string() + ":" + std::to_string(doc.line);
                    d.identified = object_store::identify(doc.object, d.key, d.error);
                    d.object = std::make_shared<const nlohmann::json>(std::move(doc.object));
                    documents.push_back(std::move(d));
                }
                if (same_objects)
                    reread.emplace_back(&files_.find(p)->first, std::move(state.documents));
                state.documents = std::move(documents);
                if (!state.error.empty())
                    log_info(p.string() + ": parses again");
                state.error.clear();
            } catch (const std::exception& e) {
                // A parse error names its line and column; anything else the parsers throw is
                // still this file's problem alone, never the process's.
                const auto* located = dynamic_cast<const manifest_parse_error*>(&e);
                same_objects = false;
                state.error = p.string() +
                              (located ? ":" + std::to_string(located->line) + ":" + std::to_string(located->column)
                                       : std::string()) +
                              ": " + e.what() + "; keeping the " + std::to_string(state.documents.size()) +
                              " object(s) it held before";
                log_error(state.error);
            }
        }
    }
    for (auto it = files_.begin(); it != files_.end();) {
        if (!seen.contains(it->first)) {
            it = files_.erase(it);
            any_file_changed = true;
            same_objects = false;
        } else {
            ++it;
        }
    }
    if (!any_file_changed && reported_once_)
        return;
    if (reported_once_ && same_objects && update_in_place(reread))
        return;
    reported_once_ = true;

    // 2. Merge all files into one view; the first file (by path) defining an object wins.
    std::map<object_key, emitted> next;
    std::vector<diagnostic> diags;
    for (const auto& [path, state] : files_) {
        if (!state.error.empty())
            diags.push_back({"file " + path.string(), "", state.error});
        for (const auto& doc : state.documents) {
            if (!doc.identified) {
                // Other kinds (Deployments and the like) are normal in a manifest directory.
                if (doc.error.find("is not one sluice reads") == std::string::npos)
                    diags.push_back({"file " + doc.origin, "", doc.error + "; document ignored"});
                continue;
            }
            auto [it, inserted] = next.emplace(doc.key, emitted{doc.object, doc.origin});
            if (!inserted)
                diags.push_back({doc.key.str() + " (" + doc.origin + ")", "",
                                 "also defined at " + it->second.origin + ", which is used"});
        }
    }
    for (const auto& d : diags)
        if (d.message.find("also defined") != std::string::npos || d.message.find("document ignored") != std::string::npos)
            log_warning(d.str());
    diagnostics_ = std::move(diags);

    // 3. Report the difference.
    std::vector<object_change> changes;
    for (const auto& [key, e] : next) {
        auto it = current_.find(key);
        if (it == current_.end() || (it->second.object != e.object && *it->second.object != *e.object))
            changes.push_back({key, *e.object, e.origin});
    }
    for (const auto& [key, e] : current_)
        if (!next.contains(key))
            changes.push_back({key, std::nullopt, e.origin});
    current_ = std::move(next);
    // The handler runs even with no object changes: file diagnostics may have changed.
    on_changes_(std::move(changes));
}

}  // namespace sluice
