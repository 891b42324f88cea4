#include "framework/autograd.h"

#include <unordered_map>
#include <unordered_set>

namespace skinmtl {

static thread_local bool t_grad_enabled = true;

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor& GradBuffers::operator[](size_t i) {
  Slot& s = slots_.at(i);
  if (s.unwritten) {
    s.buffer.zero_();
    s.unwritten = false;
  }
  return s.buffer;
}

GradBuffers::Target GradBuffers::write(size_t i) {
  Slot& s = slots_.at(i);
  const bool accumulate = !s.unwritten;
  s.unwritten = false;
  return {s.buffer, accumulate};
}

void record(Tensor& output, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.producer = t.impl()->grad_fn;
      if (!e.producer) e.leaf = t.impl_ptr();
      e.shape = t.shape();
      e.dtype = t.dtype();
      e.device = t.device();
    }
    node->inputs.push_back(std::move(e));
  }
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
}

// Nodes reachable from `root`, in topological order (a node before the nodes
// of its inputs). Iterative depth-first search: a ResNet's graph is deep enough
// to make recursion uncomfortable.
static std::vector<Node*> topo_order(Node* root) {
  std::vector<Node*> post;  // post-order: inputs before the node using them
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].producer.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return std::vector<Node*>(post.rbegin(), post.rend());
}

// Whether `producer`'s output is more than one input of `node`.
static bool used_twice(const Node& node, const Node* producer) {
  int uses = 0;
  for (const Edge& e : node.inputs) uses += e.producer.get() == producer;
  return uses > 1;
}

void run_backward(const Tensor& output, const Tensor& grad_output) {
  SKINMTL_CHECK(output.defined() && grad_output.defined(), "backward: undefined tensor");
  check_same_shape("backward (output vs its gradient)", output, grad_output);
  SKINMTL_CHECK(output.requires_grad(),
                "backward: the tensor does not require a gradient (no input of the ops that "
                "made it requires one, or it was computed under NoGradGuard)");
  NoGradGuard no_grad;  // backward functions must not record

  // A leaf: the gradient goes straight into its grad.
  auto leaf_grad = [](const Edge& e) -> Tensor {
    TensorImpl* impl = e.leaf.get();
    if (!impl->grad) impl->grad = Tensor::zeros(e.shape, e.dtype, e.device).impl_ptr();
    return Tensor(impl->grad);
  };
  Node* root = output.impl()->grad_fn.get();
  SKINMTL_CHECK(root, "backward() on a leaf tensor: there is no op to propagate through");

  // Gradients of intermediate outputs, keyed by the Node that produced them
  // (every Node has exactly one output).
  std::unordered_map<Node*, Tensor> grads;
  grads[root] = grad_output;

  for (Node* node : topo_order(root)) {
    auto it = grads.find(node);
    if (it == grads.end()) continue;  // nothing flowed into this node
    Tensor dout = it->second;
    GradBuffers d;
    d.slots_.resize(node->inputs.size());
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Edge& in = node->inputs[i];
      if (!in.requires_grad()) continue;
      GradBuffers::Slot& slot = d.slots_[i];
      Node* producer = in.producer.get();
      if (!producer) {
        slot.buffer = leaf_grad(in);
      } else {
        auto g = grads.find(producer);
        if (g == grads.end()) {
          // The first contribution to this intermediate's gradient: a new
          // buffer, zeroed only if the backward asks to add into it
          // (GradBuffers). Zeroed now if the op takes the same tensor twice
          // (add(a, a)): its two slots share the buffer, and whichever the
          // backward writes first must not find the other "written" before it.
          g = grads.emplace(producer, Tensor::empty(in.shape, in.dtype, in.device)).first;
          if (used_twice(*node, producer)) g->second.zero_();
          else slot.unwritten = true;
        }
        slot.buffer = g->second;
      }
    }
    node->backward(dout, d);
    // An input the backward left alone got no gradient from it: zero.
    for (GradBuffers::Slot& slot : d.slots_)
      if (slot.unwritten) slot.buffer.zero_();
    grads.erase(node);  // this node's output gradient is no longer needed
  }
}

}  // namespace skinmtl
