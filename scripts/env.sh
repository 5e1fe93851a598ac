# Shared settings of the difftheory scripts (sourced, not run). Override any of them from the
# environment.
DT_ROOT="${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DT_VENV="${DT_VENV:-$DT_ROOT/.venv}"
DT_TORCH_VERSION=2.13.0          # what tch 0.26 / torch-sys 0.26 expect
DT_CUDART_VERSION=13.0.96        # libcudart that libtorch_cpu.so links
DT_CUPTI_VERSION=13.0.85         # libcupti that libtorch_cpu.so links
DT_EVCXR_VERSION=0.22.0
DT_EVCXR_ROOT="${DT_EVCXR_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
DT_EVCXR="$DT_EVCXR_ROOT/bin/evcxr_jupyter"
DT_KERNEL_NAME=difftheory
# Persistent build folder of the kernel: the second notebook reuses what the first compiled.
DT_CACHE="${DT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/difftheory}"
DT_LIBTORCH="$DT_VENV/libtorch"
export LIBTORCH="${LIBTORCH:-$DT_LIBTORCH}"
export JUPYTER_PATH="$DT_VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
