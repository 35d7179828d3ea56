{
  "targets": [
    {
      "target_name": "onednn",
      "sources": [
        "native/addon.cc",
        "native/convolution.cc",
        "native/matmul.cc",
        "native/pooling.cc",
        "native/elementwise.cc",
        "native/layout.cc",
        "native/normalization.cc",
        "native/machine-probe.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}
