"""cuda_library: compiles .cu files with the system nvcc into a cc_library.

Each .cu becomes one object file built for Hopper (sm_90a and sm_90 SASS plus
compute_90 PTX), linked with cudart. The .cu files may include project headers
listed in `hdrs` or `cu_hdrs` (paths relative to the workspace root).
`nvcc_flags` adds per-target flags (e.g. "-Xptxas=-v" for a resource report).
Fast math stays off (nvcc's default): kernels must match the CPU reference.
"""

NVCC = "/usr/local/cuda/bin/nvcc"

NVCC_FLAGS = " ".join([
    "-std=c++17",
    "-O3",
    "-Xcompiler=-fPIC,-Wall,-Wextra,-Werror",
    "-Werror=all-warnings",
    "-lineinfo",
    "-gencode=arch=compute_90a,code=sm_90a",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
])

def cuda_library(name, srcs, hdrs = [], cu_hdrs = [], deps = [], nvcc_flags = [], **kwargs):
    objects = []
    for src in srcs:
        stem = src.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        obj = "_cuda_objs/%s/%s.o" % (name, stem)
        native.genrule(
            name = "%s_%s_nvcc" % (name, stem),
            srcs = [src] + hdrs + cu_hdrs,
            outs = [obj],
            cmd = "%s %s %s -I. -I$(GENDIR) -c $(location %s) -o $@" % (
                NVCC,
                NVCC_FLAGS,
                " ".join(nvcc_flags),
                src,
            ),
            message = "nvcc %s" % src,
        )
        objects.append(obj)
    native.cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        deps = deps + ["@cuda//:cudart"],
        **kwargs
    )
