#pragma once
// Where objects come from: a manifest directory or the Kubernetes API. A source reports
// add/update/delete changes; the controller applies them to its store and rebuilds.
#include <functional>
#include <vector>

#include "controller/object_store.hpp"

namespace sluice {

class change_source {
public:
    using change_handler = std::function<void(std::vector<object_change>)>;
    virtual ~change_source() = default;
    // Returns once every object has been reported once (the handler has run).
    virtual void initial_sync() = 0;
    // From now on, changes are reported as they happen, on the control io_context.
    virtual void watch() = 0;
    // Problems of the source itself (files that do not parse, requests the API refused).
    virtual const std::vector<diagnostic>& diagnostics() const = 0;
};

}  // namespace sluice
