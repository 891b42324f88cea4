// reshape and flatten: views over the same storage. The gradient of a view is
// the incoming gradient read with the input's shape (same element order).
#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "framework/ops.h"

namespace skinmtl {

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SKINMTL_CHECK(infer < 0, "reshape: more than one -1 in " << shape_str(shape));
      infer = (int)i;
    } else {
      SKINMTL_CHECK(s[i] >= 0, "reshape: bad dimension in " << shape_str(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SKINMTL_CHECK(known > 0 && x.numel() % known == 0,
                  "reshape: cannot view " << x.str() << " as " << shape_str(shape));
    s[infer] = x.numel() / known;
  }
  SKINMTL_CHECK(shape_numel(s) == x.numel(),
                "reshape: cannot view " << x.str() << " as " << shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = x.impl()->offset;
  impl->shape = s;
  impl->dtype = x.dtype();
  Tensor y(impl);
  record(y, "reshape", {x}, [](const Tensor& dy, GradBuffers& d) { write_gradient(d.write(0), dy); });
  return y;
}

Tensor flatten(const Tensor& x) {
  SKINMTL_CHECK(x.ndim() >= 1, "flatten: needs a batch dimension, got " << x.str());
  return reshape(x, {x.size(0), -1});
}

Tensor Tensor::reshape(const Shape& shape) const { return skinmtl::reshape(*this, shape); }

}  // namespace skinmtl
