// Tests of framework/trace.h: the sink sees every range's two ends, in order,
// nested ranges inside their enclosing one, and nothing when none is installed.
#include <string>
#include <vector>

#include "framework/trace.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// Writes "+name" at a begin and "-name" at an end.
struct RecordingSink : TraceSink {
  std::vector<std::string> events;
  void begin(const char* name) override { events.push_back(std::string("+") + name); }
  void end(const char* name) override { events.push_back(std::string("-") + name); }
};

// Installs a sink for its scope, and the one before it after.
struct SinkGuard {
  explicit SinkGuard(TraceSink* s) : before(set_trace_sink(s)) {}
  ~SinkGuard() { set_trace_sink(before); }
  TraceSink* before;
};

TEST(Trace, RangesNestAndPhasesFollowEachOther) {
  RecordingSink sink;
  {
    SinkGuard guard(&sink);
    TraceRange outer("step");
    {
      TracePhase phase("a");
      { TraceRange inner("a.1"); }
      phase.next("b");
      phase.next("c");
    }
  }
  EXPECT_EQ(sink.events, (std::vector<std::string>{"+step", "+a", "+a.1", "-a.1", "-a", "+b", "-b", "+c", "-c",
                                                    "-step"}));
}

TEST(Trace, NoSinkNoCallsAndARangeEndsWhereItBegan) {
  RecordingSink sink;
  { TraceRange r("before"); }  // no sink installed: nothing to see
  {
    TracePhase phase("x");  // begun without a sink: its other ends go nowhere either
    set_trace_sink(&sink);
    phase.next("y");
    TraceRange r("z");
    set_trace_sink(nullptr);
  }  // r ends at the sink it began with
  EXPECT_EQ(sink.events, (std::vector<std::string>{"+z", "-z"}));
  EXPECT_EQ(trace_sink(), nullptr);
}

}  // namespace
}  // namespace skinmtl
