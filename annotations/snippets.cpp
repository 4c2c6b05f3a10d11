#include "annotations/snippets.hpp"

namespace sluice::annotations {

void refuse_snippets(annotation_reader& reader, ingress_annotations& out)
{
    for (const char* name :
         {"configuration-snippet", "server-snippet", "stream-snippet", "auth-snippet", "modsecurity-snippet"}) {
        if (reader.raw(name))
            reader.refuse(name, "refused: snippets are raw nginx configuration, which sluice never interprets; "
                                "the rest of the Ingress is served without it");
    }
}

}  // namespace sluice::annotations
