#pragma once
// A store filled from YAML text, as the manifest source would fill it (unit tests).
#include <stdexcept>
#include <string>

#include "controller/object_store.hpp"
#include "controller/yaml_to_json.hpp"

namespace sluice::test {

inline object_store store_from(const std::string& yaml)
{
    object_store store;
    for (auto& doc : parse_manifest_text(yaml, false)) {
        object_key key;
        std::string error;
        if (!object_store::identify(doc.object, key, error))
            throw std::runtime_error(error);
        store.apply({key, doc.object, "test.yaml:" + std::to_string(doc.line)});
    }
    return store;
}

}  // namespace sluice::test
