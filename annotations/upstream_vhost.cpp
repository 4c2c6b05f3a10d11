#include "annotations/upstream_vhost.hpp"

namespace sluice::annotations {

void parse_upstream_vhost(annotation_reader& reader, ingress_annotations& out)
{
    auto v = reader.string("upstream-vhost", is_host_with_port, "a host name, optionally with :port");
    if (v.ok())
        out.upstream_vhost = v.value;
}

}  // namespace sluice::annotations
