#include "annotations/rewrite.hpp"

namespace sluice::annotations {

void parse_rewrite(annotation_reader& reader, ingress_annotations& out)
{
    auto target = reader.string("rewrite-target", is_path_with_capture, "a path with $1..$9 captures");
    if (target.ok())
        out.rewrite.target = target.value;
    auto use_regex = reader.boolean("use-regex");
    if (use_regex.ok())
        out.rewrite.use_regex = use_regex.value;
    // app-root: a path only (ingress-nginx refuses absolute URLs: url.IsAbs()).
    auto app_root = reader.string("app-root", is_path_with_capture, "an absolute path such as /app");
    if (app_root.ok()) {
        if (app_root.value.empty() || app_root.value.front() != '/')
            reader.invalid("app-root", "\"" + app_root.value + "\" must be a path starting with '/'; ignored");
        else if (app_root.value.find('$') != std::string::npos)
            reader.invalid("app-root", "\"" + app_root.value + "\" may not contain '$'; ignored");
        else
            out.rewrite.app_root = app_root.value;
    }
    auto prefix = reader.string("x-forwarded-prefix", is_path_with_capture, "a path with $1..$9 captures");
    if (prefix.ok())
        out.rewrite.x_forwarded_prefix = prefix.value;
}

}  // namespace sluice::annotations
