#include "framework/trace.h"

#include <atomic>

namespace skinmtl {

namespace {
std::atomic<TraceSink*> g_sink{nullptr};
}  // namespace

TraceSink* set_trace_sink(TraceSink* sink) { return g_sink.exchange(sink); }

TraceSink* trace_sink() { return g_sink.load(std::memory_order_relaxed); }

}  // namespace skinmtl
