// framework/trace.h: named ranges of a step's work, for profilers.
//
// A network marks the phases of its step, e.g. in DetSegNet::loss
//
//   { TraceRange r("proposals"); ... }
//
// and a profiler installed with set_trace_sink() is told where each range
// begins and ends. The sink decides what that means: bench_gpu's waits for
// the GPU at both ends and adds up each phase's own time, or only reads the
// clock to see how long the host took to queue it. With no sink installed (a
// normal run) a range costs a load and a branch at each end.
//
// Ranges may nest; the sink sees them in order (begin A, begin B, end B, end
// A). One sink for the process, installed while nothing runs (a profiler
// sets it around the step it measures); ranges opened by other threads reach
// the same sink, so a sink that keeps state serves one thread's ranges.
#pragma once

namespace skinmtl {

struct TraceSink {
  virtual ~TraceSink() = default;
  virtual void begin(const char* name) = 0;
  virtual void end(const char* name) = 0;
};

// Installs `sink` (not owned; nullptr: none, the default). Returns the one it replaces.
TraceSink* set_trace_sink(TraceSink* sink);
TraceSink* trace_sink();

// Marks its scope as the range `name` (a string that outlives the range: a literal).
class TraceRange {
 public:
  explicit TraceRange(const char* name) : name_(name), sink_(trace_sink()) {
    if (sink_) sink_->begin(name_);
  }
  ~TraceRange() {
    if (sink_) sink_->end(name_);
  }
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;

 private:
  const char* name_;
  TraceSink* sink_;  // the sink at the range's start: it sees both ends
};

// Consecutive ranges in one scope: next() ends the current one and begins the
// next, the destructor ends the last.
//
//   TracePhase phase("box head");
//   ... phase.next("box losses");
//   ...
class TracePhase {
 public:
  explicit TracePhase(const char* first) : name_(first), sink_(trace_sink()) {
    if (sink_) sink_->begin(name_);
  }
  void next(const char* name) {
    if (sink_) {
      sink_->end(name_);
      sink_->begin(name);
    }
    name_ = name;
  }
  ~TracePhase() {
    if (sink_) sink_->end(name_);
  }
  TracePhase(const TracePhase&) = delete;
  TracePhase& operator=(const TracePhase&) = delete;

 private:
  const char* name_;
  TraceSink* sink_;
};

}  // namespace skinmtl
